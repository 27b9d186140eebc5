// The scoring rules of the field app: a port of checklists/scoring.py (the Python engine the
// server uses), so that the app shows offline exactly what the server will decide.
//
// Port, do not redesign: one function per Python function (and per rule op), named in its comment,
// with the same order of operations. tests/test_rules_golden.py keeps the two identical: it runs
// the shared cases of tests/golden/rules.json (regenerate them with
// `.venv/bin/python tests/golden/make_rules_golden.py`) through the Python engine and through this
// module in headless Chromium, and requires the same keys in the same order, the same statuses,
// strings, numbers and dates.
//
//   score(standard, sheet, asOf[, weights])  -> msgspec.to_builtins(score(...)) of the Python engine
//   checkSheet(standard, sheet)              -> check_sheet(...) (a list of problem strings)
//
// `standard` is the JSON of GET /standards/{ref}, `sheet` the JSON form of an AnswerSheet (missing
// keys take the model's defaults), `asOf` an ISO date "YYYY-MM-DD". score() throws InvalidAnswers
// (with .problems) where Python raises it. The sheet is assumed to have the shape msgspec would
// accept (types of AnswerSheet); that shape is checked by the server when the sheet is synced.
//
// Where JavaScript differs from Python and the port reproduces Python (see the helpers below):
// round() and "{:.2f}" round the exact binary value half-to-even (toFixed rounds 0.125 up); str
// ordering and iteration are by code point (JS uses UTF-16 units); str.strip() uses Python's
// whitespace; repr() quotes and escapes like Python; date.fromisoformat() is CPython 3.11's (week
// dates, "YYYYMMDD", text after "YYYYMMDD" ignored); sum() of floats is CPython 3.11's plain
// left-to-right sum (3.12 compensates); `==` holds for true == 1; `in` on a str is a substring
// test. An integral number is a Python int (JSON.stringify writes 15.0 as 15, which the server
// also decodes as an int). Not reproduced: object keys that look like array indices ("7") are
// iterated first by JavaScript, so problems about such keys may be listed in another order;
// integers beyond 2**53; repr() of characters assigned after Unicode 14 (Python 3.11's tables).

// ---------------------------------------------------------------------------------------------
// Python semantics

/** Raised (thrown) when the sheet does not fit the standard, like scoring.InvalidAnswers. */
export class InvalidAnswers extends Error {
  constructor(problems) {
    super(problems.join("; "));
    this.name = "InvalidAnswers";
    this.problems = problems;
  }
}

const own = (obj, key) => (obj != null && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined);

/** The Python type a JSON value decodes to in the model's `Value` union. */
function pyType(v) {
  if (v === null || v === undefined) return "none";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  if (typeof v === "string") return "str";
  if (Array.isArray(v)) return "list";
  return "geo"; // a JSON object is a GeoPoint
}

/** Python `a == b` for the scalars of conditions and attributes (True == 1, 1 == 1.0). */
function pyEq(a, b) {
  const numeric = (x) => typeof x === "number" || typeof x === "boolean";
  if (numeric(a) && numeric(b)) return Number(a) === Number(b);
  return a === b;
}

/** A number for a Python comparison (bool is an int); other types raise TypeError as in Python. */
function pyNum(v, op) {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number") return v;
  throw new TypeError(`'${op}' not supported between instances of '${pyType(v)}' and 'float'`);
}

/** Python truthiness. */
function pyTruthy(v) {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

/** Iterating a value like Python's `for x in v` (a str yields its code points). */
function pyIter(v) {
  if (Array.isArray(v)) return v;
  if (typeof v === "string") return Array.from(v);
  throw new TypeError(`'${pyType(v)}' object is not iterable`);
}

/** Python `x in container` for a list or a str container. */
function pyIn(x, container) {
  if (Array.isArray(container)) return container.some((c) => pyEq(c, x));
  if (typeof container === "string") {
    if (typeof x !== "string") throw new TypeError("'in <string>' requires string as left operand");
    return container.includes(x);
  }
  throw new TypeError(`argument of type '${pyType(container)}' is not iterable`);
}

/** str(x) of an int or None, as in an f-string. */
const pyStr = (v) => (v === null || v === undefined ? "None" : String(v));

/** Code-point order of Python strings (JS `<` compares UTF-16 units: astral characters differ). */
function cmpStr(a, b) {
  if (a === b) return 0;
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return x.length < y.length ? -1 : x.length > y.length ? 1 : 0;
}

// str.isspace() of CPython 3.11 (JS trim() also strips U+FEFF but not U+001C..U+001F and U+0085).
const PY_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
  0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** Python str.strip(). */
function pyStrip(s) {
  const cps = Array.from(s);
  let i = 0;
  let j = cps.length;
  while (i < j && PY_SPACE.has(cps[i].codePointAt(0))) i++;
  while (j > i && PY_SPACE.has(cps[j - 1].codePointAt(0))) j--;
  return cps.slice(i, j).join("");
}

// Characters repr() escapes: not printable in Python (categories C*, Z* except the space).
const NOT_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

/** Python repr() of the values check_sheet quotes: str, bool, None, numbers and lists of them. */
function pyRepr(v) {
  if (v === null || v === undefined) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return Number.isInteger(v) ? BigInt(v).toString() : String(v);
  if (Array.isArray(v)) return "[" + v.map(pyRepr).join(", ") + "]";
  if (typeof v !== "string") return String(v);
  const quote = v.includes("'") && !v.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of v) {
    const cp = ch.codePointAt(0);
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + cp.toString(16).padStart(2, "0");
    else if (cp < 0x7f || !NOT_PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += "\\x" + cp.toString(16).padStart(2, "0");
    else if (cp <= 0xffff) out += "\\u" + cp.toString(16).padStart(4, "0");
    else out += "\\U" + cp.toString(16).padStart(8, "0");
  }
  return out + quote;
}

/**
 * Python f"{x:.{digits}f}": the exact binary value of x rounded half-to-even to `digits` decimals.
 * (Number.prototype.toFixed rounds exact ties away from zero: 0.125 -> "0.13", Python "0.12".)
 */
function formatFixed(x, digits) {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const negative = hi >>> 31 === 1;
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent; // |x| = mantissa * 2 ** exponent
  if (biased === 0) exponent = -1074;
  else {
    mantissa |= 1n << 52n;
    exponent = biased - 1075;
  }
  const scale = 10n ** BigInt(digits);
  let q; // |x| * 10 ** digits, rounded half-to-even
  if (exponent >= 0) q = (mantissa << BigInt(exponent)) * scale;
  else {
    const shift = BigInt(-exponent);
    const scaled = mantissa * scale;
    q = scaled >> shift;
    const rest = scaled - (q << shift);
    const half = 1n << (shift - 1n);
    if (rest > half || (rest === half && (q & 1n) === 1n)) q += 1n;
  }
  const text = q.toString().padStart(digits + 1, "0");
  const body = digits ? text.slice(0, text.length - digits) + "." + text.slice(text.length - digits) : text;
  return (negative ? "-" : "") + body;
}

/** Python round(x, digits) of a float: the float nearest to the correctly rounded decimal. */
function pyRound(x, digits) {
  return Number(formatFixed(x, digits));
}

/** Python 3.11 sum() of floats: plain left-to-right addition from the int 0. */
function pySum(values) {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

// ---------------------------------------------------------------------------------------------
// Dates: {year, month, day}, compared by key(); no Date objects, no time zones.

const DAYS_BEFORE_MONTH = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

const isLeap = (y) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
const daysInMonth = (y, m) => (m === 2 && isLeap(y) ? 29 : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]);
const key = (d) => d.year * 10000 + d.month * 100 + d.day;
const iso = (d) =>
  `${String(d.year).padStart(4, "0")}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}`;

/** dt.date(year, month, day), or null where Python raises ValueError. */
function makeDate(year, month, day) {
  if (!(year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month))) {
    return null;
  }
  return { year, month, day };
}

/** date.toordinal() and date.fromordinal() (proleptic Gregorian, 0001-01-01 is day 1). */
function toOrdinal({ year, month, day }) {
  const y = year - 1;
  return y * 365 + Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400) +
    DAYS_BEFORE_MONTH[month] + (month > 2 && isLeap(year) ? 1 : 0) + day;
}

function fromOrdinal(n) {
  let year = Math.floor((n - 1) / 365.2425) + 1;
  while (toOrdinal({ year: year + 1, month: 1, day: 1 }) <= n) year++;
  while (toOrdinal({ year, month: 1, day: 1 }) > n) year--;
  let month = 1;
  while (month < 12 && toOrdinal({ year, month: month + 1, day: 1 }) <= n) month++;
  return { year, month, day: n - toOrdinal({ year, month, day: 1 }) + 1 };
}

/** A date as msgspec decodes it (record dates, as-of): exactly "YYYY-MM-DD". */
function parseDate(text, what) {
  const m = typeof text === "string" ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(text) : null;
  const day = m && makeDate(Number(m[1]), Number(m[2]), Number(m[3]));
  if (!day) throw new TypeError(`${what}: expected a date YYYY-MM-DD, got ${JSON.stringify(text)}`);
  return day;
}

/** The length in UTF-8 bytes (null for a lone surrogate, which has no UTF-8 form). */
function utf8Length(text) {
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if (cp >= 0xd800 && cp <= 0xdfff) return null;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/**
 * datetime.date.fromisoformat() of CPython 3.11 (the C implementation): "YYYY-MM-DD", "YYYYMMDD",
 * ISO week dates "YYYY-Www[-D]" / "YYYYWww[D]"; the length in UTF-8 bytes must be 7, 8 or 10 and,
 * as in CPython, characters after a complete "YYYYMMDD" or "YYYYWwwD" are not looked at. Null where Python
 * raises ValueError; TypeError for a non-string, as in Python.
 */
function fromIsoformat(text) {
  if (typeof text !== "string") throw new TypeError("fromisoformat: argument must be str");
  const length = utf8Length(text); // CPython checks the length of the UTF-8 bytes
  if (![7, 8, 10].includes(length)) return null;
  let p = 0;
  const digits = (n) => {
    const part = text.slice(p, p + n);
    if (part.length !== n || !/^[0-9]+$/.test(part)) return null;
    p += n;
    return Number(part);
  };
  const year = digits(4);
  if (year === null) return null;
  const separated = text[p] === "-";
  if (separated) p++;
  if (text[p] === "W") {
    p++;
    const week = digits(2);
    if (week === null) return null;
    let weekday = 1;
    if (p < length) {
      if (separated && text[p++] !== "-") return null;
      weekday = digits(1);
      if (weekday === null) return null;
    }
    if (year === 0) return null; // CPython's arithmetic assumes year >= 1; every such date is refused
    const jan1 = toOrdinal({ year, month: 1, day: 1 });
    const jan1Weekday = (jan1 + 6) % 7; // 0 = Monday
    if (week <= 0 || week >= 53) {
      const long = jan1Weekday === 3 || (jan1Weekday === 2 && isLeap(year));
      if (!(week === 53 && long)) return null;
    }
    if (weekday <= 0 || weekday >= 8) return null;
    let monday = jan1 - jan1Weekday;
    if (jan1Weekday > 3) monday += 7;
    const d = fromOrdinal(monday + (week - 1) * 7 + weekday - 1);
    return makeDate(d.year, d.month, d.day);
  }
  const month = digits(2);
  if (month === null) return null;
  if (separated && text[p++] !== "-") return null;
  const day = digits(2);
  if (day === null) return null;
  return makeDate(year, month, day);
}

/** months_before: the same day `months` calendar months earlier (clamped to the month's last day). */
function monthsBefore(day, months) {
  const total = day.year * 12 + (day.month - 1) - months;
  const year = Math.floor(total / 12);
  const month = total - year * 12 + 1;
  for (const d of [day.day, 30, 29, 28]) {
    const found = makeDate(year, month, Math.min(day.day, d));
    if (found) return found;
  }
  throw new Error("unreachable");
}

const QUARTER_NAMES = ["一季度", "二季度", "三季度", "四季度"];

/** required_quarters: [index, first day, last day counted] of each quarter a per-quarter rule checks. */
function requiredQuarters(asOf) {
  const quarters = [];
  for (let q = 0; q < 4; q++) {
    const start = { year: asOf.year, month: 3 * q + 1, day: 1 };
    const next = { year: asOf.year + (q === 3 ? 1 : 0), month: ((3 * q + 3) % 12) + 1, day: 1 };
    const end = fromOrdinal(toOrdinal(next) - 1);
    if (key(end) <= key(asOf)) quarters.push([q, start, end]);
  }
  if (!quarters.length) quarters.push([0, { year: asOf.year, month: 1, day: 1 }, asOf]);
  return quarters;
}

// ---------------------------------------------------------------------------------------------
// Formatting what was observed, in the user's language

/** fmt_number */
function fmtNumber(x) {
  if (typeof x === "boolean") return x ? "是" : "否";
  if (Number.isInteger(x)) return BigInt(x).toString(); // str(int(x)), also for -0.0 and 1e25
  return formatFixed(x, 2).replace(/0+$/, "").replace(/\.+$/, "");
}

/** fmt_value */
function fmtValue(value, unit = "") {
  switch (pyType(value)) {
    case "none":
      return "未填写";
    case "bool":
      return value ? "是" : "否";
    case "int":
    case "float":
      return fmtNumber(value) + unit;
    case "list":
      return value.length ? value.join("、") : "（无）";
    case "geo":
      return `${formatFixed(value.lat, 6)},${formatFixed(value.lon, 6)}`;
  }
  return String(value);
}

// ---------------------------------------------------------------------------------------------
// The inputs, with the model's defaults (model.py: Answer, Record, ChildFacts, AnswerSheet)

function normAttachment(a) {
  return { sha256: a.sha256, kind: a.kind, label: a.label ?? "" };
}

function normAnswer(a) {
  return {
    value: a.value ?? null,
    na: a.na ?? false,
    reason: a.reason ?? "",
    fields: a.fields ?? {},
    evidence: (a.evidence ?? []).map(normAttachment),
  };
}

function normAnswers(answers) {
  const out = new Map();
  for (const [k, a] of Object.entries(answers ?? {})) out.set(k, normAnswer(a));
  return out;
}

function normSheet(sheet) {
  sheet = sheet ?? {};
  return {
    unit: sheet.unit ?? "",
    attributes: new Map(Object.entries(sheet.attributes ?? {})),
    answers: normAnswers(sheet.answers),
    records: (sheet.records ?? []).map((r) => ({
      id: r.id,
      kind: r.kind,
      date: parseDate(r.date, `records[${r.id}].date`),
      title: r.title ?? "",
      fields: r.fields ?? {},
      attachments: (r.attachments ?? []).map(normAttachment),
    })),
    children: (sheet.children ?? []).map((c) => ({ unit: c.unit, answers: normAnswers(c.answers) })),
  };
}

// ---------------------------------------------------------------------------------------------
// Evaluation context

/** Context: everything a rule may look at, prepared once per scoring. */
function makeContext(standard, sheet, attributes, records, asOf) {
  return {
    standard,
    sheet,
    attributes, // Map
    records, // sorted, none after asOf
    asOf,
    kindName(kind) {
      for (const k of standard.record_kinds ?? []) if (k.key === kind) return k.name;
      return kind;
    },
    applies(conditions) {
      return (conditions ?? []).every((c) => this.attributes.has(c.attr) && pyEq(this.attributes.get(c.attr), c.equals));
    },
  };
}

/** Verdict: ok is null when the rule has nothing to judge (not answered). */
const verdict = (ok, observed) => ({ ok, observed });
const MISSING = verdict(null, "未填写");

/** _field_label: [label, unit] of the answer or of one of its fields. */
function fieldLabel(item, field) {
  if (field === null || field === undefined) return ["", item.unit ?? ""];
  for (const f of item.fields ?? []) if (f.key === field) return [f.label, f.unit ?? ""];
  return [field, ""];
}

/** _value: the answer's value, or one of its fields. */
function valueOf(answer, field) {
  if (answer === null || answer === undefined) return null;
  if (field === null || field === undefined) return answer.value;
  return own(answer.fields, field) ?? null;
}

// ---------------------------------------------------------------------------------------------
// describe: the rule in words (Chinese), as shown to officials and reviewers

function describe(rule, item, ctx) {
  switch (rule.op) {
    case "yes": {
      const [label] = fieldLabel(item, rule.field);
      return `${label}须为“是”`;
    }
    case "gte": {
      const [label, unit] = fieldLabel(item, rule.field);
      return `${label}不少于 ${fmtNumber(rule.value)}${unit}`;
    }
    case "lte": {
      const [label, unit] = fieldLabel(item, rule.field);
      return `${label}不超过 ${fmtNumber(rule.value)}${unit}`;
    }
    case "in": {
      const [label] = fieldLabel(item, rule.field);
      return `${label}须为：` + rule.values.join(" / ");
    }
    case "includes":
      return "须包含：" + rule.options.filter((o) => ctx.applies(o.when)).map((o) => o.value).join("、");
    case "present":
      return "须填报并提供材料";
    case "within_months":
      return `须在近 ${pyStr(rule.months)} 个月内`;
    case "records": {
      const name = ctx.kindName(rule.kind);
      const window = {
        year: `${ctx.asOf.year}年度`,
        quarter: "每季度",
        months: `近 ${pyStr(rule.months)} 个月内`,
      }[rule.per];
      const each = rule.each_of ?? [];
      const eachText = each.length ? "（" + each.join("、") + "各）" : "";
      const docs = rule.with_documents ?? 0;
      const docsText = docs ? `（每次须附文件 ${docs} 份）` : "";
      return `${window}${name}${eachText}不少于 ${rule.min} 次${docsText}`;
    }
    case "records_cover": {
      const [against, months, name] = [rule.against_item, rule.within_months, ctx.kindName(rule.kind)];
      return `${against} 所列专项预案在近 ${months} 个月内开展过${name}的比例不低于 ${fmtNumber(rule.min_percent ?? 100)}%`;
    }
    case "child_share":
      return `下辖村（社区）${rule.item}“${describe(rule.where, item, ctx)}”的比例不低于 ${fmtNumber(rule.min_percent)}%`;
    case "labelled_evidence": {
      const noun = rule.kind === "photo" ? "照片" : "文件";
      return `每项须有${noun}：` + rule.labels.join("、");
    }
    case "all":
      return rule.rules.map((r) => describe(r, item, ctx)).join("；");
  }
  throw new TypeError(`unknown rule op ${rule.op}`);
}

// ---------------------------------------------------------------------------------------------
// evaluate: judge one rule against the answer (or the records / child units it looks at)

function evaluate(rule, item, answer, ctx) {
  const judge = RULES[rule.op];
  if (!judge) throw new TypeError(`unknown rule op ${rule.op}`);
  return judge(rule, item, answer, ctx);
}

function ruleYes(rule, item, answer) {
  const value = valueOf(answer, rule.field);
  return value === null ? MISSING : verdict(value === true, fmtValue(value));
}

function ruleCompare(rule, item, answer) {
  const value = valueOf(answer, rule.field);
  if (value === null) return MISSING;
  const [, unit] = fieldLabel(item, rule.field);
  const ok =
    rule.op === "gte" ? pyNum(value, ">=") >= pyNum(rule.value, ">=") : pyNum(value, "<=") <= pyNum(rule.value, "<=");
  return verdict(ok, fmtValue(value, unit));
}

function ruleIn(rule, item, answer) {
  const value = valueOf(answer, rule.field);
  return value === null ? MISSING : verdict(pyIn(value, rule.values), fmtValue(value));
}

function ruleIncludes(rule, item, answer, ctx) {
  const value = valueOf(answer, null);
  if (value === null) return MISSING;
  const lacking = rule.options.filter((o) => ctx.applies(o.when) && !pyIn(o.value, value)).map((o) => o.value);
  const observed = fmtValue(value) + (lacking.length ? `（缺少：${lacking.join("、")}）` : "");
  return verdict(!lacking.length, observed);
}

function rulePresent(rule, item, answer) {
  const empty = (v) => v === null || v === "" || (Array.isArray(v) && v.length === 0);
  if (answer === null || (empty(answer.value) && !answer.evidence.length)) return MISSING;
  return verdict(true, answer.value !== null && answer.value !== "" ? fmtValue(answer.value) : "已提供材料");
}

function ruleWithinMonths(rule, item, answer, ctx) {
  const value = valueOf(answer, null);
  if (value === null) return MISSING;
  const day = fromIsoformat(value);
  if (day === null) throw new RangeError(`Invalid isoformat string: ${pyRepr(value)}`);
  const k = key(day);
  return verdict(key(monthsBefore(ctx.asOf, rule.months)) <= k && k <= key(ctx.asOf), value);
}

function ruleLabelledEvidence(rule, item, answer) {
  if (answer === null || !answer.evidence.length) return MISSING;
  const have = new Set(answer.evidence.filter((a) => a.kind === rule.kind).map((a) => a.label));
  const lacking = rule.labels.filter((label) => !have.has(label));
  const observed =
    `已有 ${rule.labels.length - lacking.length}/${rule.labels.length} 项` +
    (lacking.length ? `（缺少：${lacking.join("、")}）` : "");
  return verdict(!lacking.length, observed);
}

function ruleAll(rule, item, answer, ctx) {
  const verdicts = rule.rules.map((r) => evaluate(r, item, answer, ctx));
  let ok;
  if (verdicts.some((v) => v.ok === false)) ok = false;
  else if (verdicts.some((v) => v.ok === null)) ok = null;
  else ok = true;
  return verdict(ok, verdicts.map((v) => v.observed).join("；"));
}

/** distinct: how many different files (by sha256) of `kind` are listed; a file listed twice is one. */
function distinct(attachments, kind) {
  return new Set(attachments.filter((a) => a.kind === kind).map((a) => a.sha256)).size;
}

/** _counting: records of the rule's kind with enough (different) document attachments. */
function counting(rule, ctx) {
  const need = rule.with_documents ?? 0;
  return ctx.records.filter((r) => r.kind === rule.kind && distinct(r.attachments, "document") >= need);
}

/** _record_count */
function ruleRecords(rule, item, answer, ctx) {
  const records = counting(rule, ctx);
  const each = rule.each_of ?? [];
  const field = rule.field || "";
  const groups = each.length
    ? each.map((v) => [v, records.filter((r) => own(r.fields, field) === v)])
    : [["", records]];
  const parts = [];
  let ok = true;
  for (const [label, rs] of groups) {
    const prefix = label ? `${label}：` : "";
    if (rule.per === "quarter") {
      const counts = [];
      for (const [q, start, end] of requiredQuarters(ctx.asOf)) {
        const n = rs.filter((r) => key(start) <= key(r.date) && key(r.date) <= key(end)).length;
        ok = ok && n >= rule.min;
        counts.push(`${QUARTER_NAMES[q]} ${n} 次`);
      }
      parts.push(prefix + counts.join("、"));
    } else {
      const start =
        rule.per === "year" ? { year: ctx.asOf.year, month: 1, day: 1 } : monthsBefore(ctx.asOf, rule.months || 0);
      const n = rs.filter((r) => key(start) <= key(r.date) && key(r.date) <= key(ctx.asOf)).length;
      ok = ok && n >= rule.min;
      parts.push(`${prefix}${n} 次`);
    }
  }
  return verdict(ok, parts.join("；"));
}

/** _records_cover */
function ruleRecordsCover(rule, item, answer, ctx) {
  const chosen = valueOf(ctx.sheet.answers.get(rule.against_item) ?? null, null);
  if (chosen === null) return MISSING;
  if (!pyTruthy(chosen)) return verdict(false, `${rule.against_item} 未列出任何专项预案`);
  const since = key(monthsBefore(ctx.asOf, rule.within_months));
  const drilled = new Set(
    ctx.records
      .filter((r) => r.kind === rule.kind && since <= key(r.date) && key(r.date) <= key(ctx.asOf))
      .map((r) => own(r.fields, rule.field) ?? null),
  );
  const plans = pyIter(chosen);
  const lacking = plans.filter((p) => !drilled.has(p));
  const done = plans.length - lacking.length;
  const share = (100 * done) / plans.length;
  const observed =
    `${done}/${plans.length}（${fmtNumber(share)}%）` + (lacking.length ? `，未演练：${lacking.join("、")}` : "");
  return verdict(share >= (rule.min_percent ?? 100), observed);
}

/** _child_share */
function ruleChildShare(rule, item, answer, ctx) {
  let counted = 0;
  const lacking = [];
  const children = [...ctx.sheet.children].sort((a, b) => cmpStr(a.unit, b.unit));
  for (const child of children) {
    const childAnswer = child.answers.get(rule.item) ?? null;
    if (childAnswer !== null && childAnswer.na && pyStrip(childAnswer.reason)) continue; // out of the denominator
    counted += 1;
    if (evaluate(rule.where, item, childAnswer, ctx).ok !== true) lacking.push(child.unit);
  }
  if (counted === 0) return verdict(null, "无下辖村（社区）数据");
  const share = (100 * (counted - lacking.length)) / counted;
  const shown = lacking.slice(0, 5).join("、") + (lacking.length > 5 ? "等" : "");
  const observed =
    `${counted - lacking.length}/${counted}（${fmtNumber(share)}%）` + (lacking.length ? `，未满足：${shown}` : "");
  return verdict(share >= rule.min_percent, observed);
}

const RULES = {
  yes: ruleYes,
  gte: ruleCompare,
  lte: ruleCompare,
  in: ruleIn,
  includes: ruleIncludes,
  present: rulePresent,
  within_months: ruleWithinMonths,
  records: ruleRecords,
  records_cover: ruleRecordsCover,
  child_share: ruleChildShare,
  labelled_evidence: ruleLabelledEvidence,
  all: ruleAll,
};

// ---------------------------------------------------------------------------------------------
// Answer checking

/** check_sheet: why the sheet does not fit the standard (empty when it does). */
export function checkSheet(standard, sheet) {
  return checkNormalized(standard, normSheet(sheet));
}

function checkNormalized(standard, sheet) {
  const problems = [];
  const items = new Map(standard.items.map((i) => [i.id, i]));
  const attrs = new Map((standard.attributes ?? []).map((a) => [a.key, a]));
  const kinds = new Set((standard.record_kinds ?? []).map((k) => k.key));
  for (const [k, value] of sheet.attributes) {
    const definition = attrs.get(k);
    if (definition === undefined) {
      problems.push(`attributes.${k}: unknown unit attribute (declared: ${[...attrs.keys()].sort(cmpStr).join(", ")})`);
    } else if ((definition.type ?? "bool") === "bool" && typeof value !== "boolean") {
      problems.push(`attributes.${k}: expected true or false`);
    } else if (definition.type === "enum" && !pyIn(value, definition.options ?? [])) {
      problems.push(`attributes.${k}: ${pyRepr(value)} is not one of ${pyRepr(definition.options ?? [])}`);
    }
  }
  for (const [itemId, answer] of sheet.answers) {
    const item = items.get(itemId);
    if (item === undefined) {
      problems.push(`answers.${itemId}: no such item in ${standard.id}@${standard.version}`);
      continue;
    }
    for (const p of answerProblems(item, answer)) problems.push(`answers.${itemId}: ${p}`);
  }
  for (const record of sheet.records) {
    if (!kinds.has(record.kind)) problems.push(`records[${record.id}]: unknown record kind ${pyRepr(record.kind)}`);
  }
  problems.push(...childrenProblems(standard, sheet));
  return problems;
}

/** _flat: the leaves of nested `all` rules. */
function flat(rule) {
  return rule.op === "all" ? rule.rules.flatMap(flat) : [rule];
}

// getattr(rule, "field", None): the rules that have a `field` attribute.
const FIELD_OPS = new Set(["yes", "gte", "lte", "in", "records", "records_cover"]);

/** _is_date */
function isDate(value) {
  try {
    return fromIsoformat(value) !== null;
  } catch {
    return false;
  }
}

/** _children_problems: child answers a child_share rule would compare with a value of the wrong type. */
function childrenProblems(standard, sheet) {
  if (!sheet.children.length) return [];
  const shares = standard.items.flatMap((item) => flat(item.rule)).filter((r) => r.op === "child_share");
  const problems = [];
  for (const c of sheet.children) {
    for (const share of shares) {
      const answer = c.answers.get(share.item);
      if (answer === undefined || (answer.na && pyStrip(answer.reason))) continue; // as childShare leaves them out
      for (const rule of flat(share.where)) {
        const field = FIELD_OPS.has(rule.op) ? rule.field ?? null : null;
        const value = valueOf(answer, field);
        if (value === null) continue;
        const where = `children[${c.unit}].answers.${share.item}` + (field ? `.fields.${field}` : "");
        const got = pyRepr(fmtValue(value));
        const t = pyType(value);
        if (rule.op === "yes" && t !== "bool") {
          problems.push(`${where}: expected true or false, got ${got}`);
        } else if ((rule.op === "gte" || rule.op === "lte") && t !== "int" && t !== "float") {
          problems.push(`${where}: expected a number, got ${got}`);
        } else if (rule.op === "in" && t !== "str") {
          problems.push(`${where}: expected one of ${pyRepr(rule.values)}, got ${got}`);
        } else if (rule.op === "includes" && t !== "list") {
          problems.push(`${where}: expected a list of options, got ${got}`);
        } else if (rule.op === "within_months" && !isDate(value)) {
          problems.push(`${where}: expected a date YYYY-MM-DD, got ${got}`);
        }
      }
    }
  }
  return problems;
}

// The Python types each answer type takes (bool is not accepted where only int is).
const EXPECTED = {
  yes_no: ["bool"],
  count: ["int"],
  number: ["int", "float"],
  percent: ["int", "float"],
  date: ["str"],
  enum: ["str"],
  multi_select: ["list"],
  text: ["str"],
  gps: ["geo"],
};

/** _answer_problems */
function answerProblems(item, answer) {
  if (answer.na) return answer.value === null || answer.value === undefined ? [] : ["an N/A answer takes no value"];
  const value = answer.value;
  const problems = [];
  const expected = own(EXPECTED, item.answer);
  const options = item.options ?? [];
  if (value !== null) {
    if (expected === undefined) {
      problems.push(`a ${item.answer} item takes no value`);
    } else if (!expected.includes(pyType(value))) {
      problems.push(`expected a ${item.answer} value, got ${pyRepr(fmtValue(value))}`);
    } else if (item.answer === "count" && value < 0) {
      problems.push("a count cannot be negative");
    } else if (item.answer === "percent" && !(0 <= value && value <= 100)) {
      problems.push("a percentage must be within 0-100");
    } else if (item.answer === "date") {
      if (fromIsoformat(value) === null) problems.push(`expected a date YYYY-MM-DD, got ${pyRepr(value)}`);
    } else if (item.answer === "enum" && !pyIn(value, options)) {
      problems.push(`${pyRepr(value)} is not one of ${pyRepr(options)}`);
    } else if (item.answer === "multi_select") {
      for (const v of value) if (!pyIn(v, options)) problems.push(`${pyRepr(v)} is not one of ${pyRepr(options)}`);
    }
  }
  const fields = new Map((item.fields ?? []).map((f) => [f.key, f]));
  for (const [k, v] of Object.entries(answer.fields)) {
    const f = fields.get(k);
    if (f === undefined) problems.push(`fields.${k}: no such field`);
    else if (f.type === "yes_no" && typeof v !== "boolean") problems.push(`fields.${k}: expected true or false`);
    else if (["count", "number", "percent"].includes(f.type) && typeof v !== "number") {
      problems.push(`fields.${k}: expected a number`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Scoring

/** _item_result */
function itemResult(item, ctx) {
  const ruleText = describe(item.rule, item, ctx);
  const result = (status, observed, reason) => ({
    id: item.id,
    dimension: item.dimension,
    status,
    mandatory: item.mandatory ?? false,
    rule: ruleText,
    observed,
    reason,
  });
  const when = item.when ?? [];
  if (!ctx.applies(when)) {
    const names = new Map((ctx.standard.attributes ?? []).map((a) => [a.key, a.name]));
    const conds = when.map((c) => `${names.has(c.attr) ? names.get(c.attr) : c.attr}=${fmtValue(c.equals)}`).join("、");
    return result("na", "", `不适用：本单位不满足适用条件（${conds}）`);
  }
  const answer = ctx.sheet.answers.get(item.id) ?? null;
  if (answer !== null && answer.na) {
    if (!item.na_allowed) return result("fail", "不适用", "本项不允许填报“不适用”");
    if (!pyStrip(answer.reason)) return result("fail", "不适用", "填报“不适用”须说明理由");
    return result("na", "不适用", `不适用：${pyStrip(answer.reason)}`);
  }
  const v = evaluate(item.rule, item, answer, ctx);
  if (v.ok === null) return result("missing", v.observed, `未填写：${ruleText}`);
  if (!v.ok) return result("fail", v.observed, `不符合：要求${ruleText}；实际：${v.observed}`);
  const photos = answer ? distinct(answer.evidence, "photo") : 0;
  const docs = answer ? distinct(answer.evidence, "document") : 0;
  const need = { photos: item.evidence?.photos ?? 0, documents: item.evidence?.documents ?? 0 };
  if (photos < need.photos || docs < need.documents) {
    return result(
      "fail",
      v.observed,
      `证明材料不足：需照片 ${need.photos} 张、文件 ${need.documents} 份，实有照片 ${photos} 张、文件 ${docs} 份`,
    );
  }
  return result("pass", v.observed, `符合：${ruleText}；实际：${v.observed}`);
}

/**
 * score: the result of one unit against one standard version as of a date, exactly
 * msgspec.to_builtins(checklists.scoring.score(standard, sheet, as_of, weights)).
 * `weights` overrides dimension weights by code (equal by default).
 */
export function score(standard, sheet, asOf, weights = null) {
  const s = normSheet(sheet);
  const problems = checkNormalized(standard, s);
  if (problems.length) throw new InvalidAnswers(problems);
  const day = parseDate(asOf, "as_of");
  const attributes = new Map((standard.attributes ?? []).map((a) => [a.key, a.default ?? false]));
  for (const [k, v] of s.attributes) attributes.set(k, v);
  const records = s.records
    .filter((r) => key(r.date) <= key(day))
    .sort((a, b) => key(a.date) - key(b.date) || cmpStr(a.id, b.id) || cmpStr(a.kind, b.kind));
  const ctx = makeContext(standard, s, attributes, records, day);
  const items = standard.items.map((item) => itemResult(item, ctx));
  const weightOf = new Map(standard.items.map((i) => [i.id, i.weight ?? 1.0]));

  const dimensions = [];
  let weighted = 0.0;
  let totalWeight = 0.0;
  for (const dim of standard.dimensions) {
    const members = items.filter((r) => r.dimension === dim.code);
    const applicable = members.filter((r) => r.status !== "na");
    const failing = applicable.filter((r) => r.mandatory && r.status !== "pass").map((r) => r.id);
    const possible = pySum(applicable.map((r) => weightOf.get(r.id)));
    const earned = pySum(applicable.filter((r) => r.status === "pass").map((r) => weightOf.get(r.id)));
    const dimScore = possible ? pyRound((100 * earned) / possible, 2) : 100.0;
    if (possible) {
      const w = weights && own(weights, dim.code) !== undefined ? own(weights, dim.code) : dim.weight ?? 1.0;
      weighted += w * dimScore;
      totalWeight += w;
    }
    const counts = {};
    for (const st of ["pass", "fail", "na", "missing"]) counts[st] = members.filter((r) => r.status === st).length;
    dimensions.push({ code: dim.code, name: dim.name, passed: !failing.length, score: dimScore, failing, counts });
  }
  return {
    standard: standard.id,
    version: standard.version,
    content_hash: standard.content_hash ?? "",
    as_of: iso(day),
    passed: dimensions.every((d) => d.passed),
    score: totalWeight ? pyRound(weighted / totalWeight, 2) : 100.0,
    dimensions,
    items,
  };
}

/** The Python-compatible helpers, exported for differential tests only (dates as ISO strings). */
export const _python = {
  formatFixed,
  pyRound,
  pyRepr,
  pyStrip,
  cmpStr,
  fromIsoformat(text) {
    const day = fromIsoformat(text);
    return day && iso(day);
  },
};

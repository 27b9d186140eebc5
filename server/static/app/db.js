// IndexedDB: everything the phone holds. Stores:
//   meta      key -> value (device id, clock, cursor, tokens, last sync)
//   outbox    every local edit as a sync mutation, in order (seq); state "pending" until the
//             server answered, then "done" with its result (rejected ones are kept and shown)
//   s_*       the server's state as last pulled (the mirror)
//   blobs     photos and documents taken on the phone (Blob), with upload progress
//   standards the standard definitions (JSON), by ref
const NAME = "dabiao";
const VERSION = 1;
let opened = null;

export function open() {
  if (opened) return opened;
  opened = new Promise((resolve, reject) => {
    const req = indexedDB.open(NAME, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore("meta");
      const outbox = db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
      outbox.createIndex("id", "id", { unique: true });
      outbox.createIndex("state", "state");
      db.createObjectStore("s_assessments", { keyPath: "id" });
      db.createObjectStore("s_answers", { keyPath: ["assessment_id", "item_id"] }).createIndex("assessment", "assessment_id");
      db.createObjectStore("s_records", { keyPath: ["assessment_id", "record_id"] }).createIndex("assessment", "assessment_id");
      db.createObjectStore("s_comments", { keyPath: "id" }).createIndex("assessment", "assessment_id");
      db.createObjectStore("s_conflicts", { keyPath: "id" }).createIndex("assessment", "assessment_id");
      db.createObjectStore("blobs", { keyPath: "sha256" });
      db.createObjectStore("standards", { keyPath: "ref" });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return opened;
}

export const MIRROR = ["s_assessments", "s_answers", "s_records", "s_comments", "s_conflicts"];

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
}

function result(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

// Run `fn(stores)` in one read-write transaction over `names`; resolves when it is durable.
export async function write(names, fn) {
  const db = await open();
  const tx = db.transaction(names, "readwrite", { durability: "strict" });
  const stores = Object.fromEntries(names.map((n) => [n, tx.objectStore(n)]));
  let value;
  try {
    value = await fn(stores);
  } catch (err) {
    tx.abort();
    throw err;
  }
  await done(tx);
  return value;
}

export async function get(store, key) {
  const db = await open();
  return result(db.transaction(store).objectStore(store).get(key));
}

export async function all(store, index, query) {
  const db = await open();
  const s = db.transaction(store).objectStore(store);
  return result((index ? s.index(index) : s).getAll(query));
}

export async function meta(key) {
  return get("meta", key);
}

export async function setMeta(values) {
  await write(["meta"], (s) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined || v === null) s.meta.delete(k);
      else s.meta.put(v, k);
    }
  });
}

export { result };

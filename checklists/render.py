"""A standard as readable Chinese text (for `dabiao standards show`)."""

from __future__ import annotations

import datetime as dt

from checklists.model import AnswerSheet, Standard
from checklists.scoring import Context, describe

ANSWER_NAMES = {
    "yes_no": "是/否",
    "count": "数量",
    "number": "数值",
    "percent": "百分比",
    "date": "日期",
    "enum": "单选",
    "multi_select": "多选",
    "text": "文字",
    "photo": "照片",
    "document": "文件",
    "gps": "定位",
    "records": "台账记录",
    "computed": "由下辖村（社区）计算",
}
BASIS_NAMES = {"S": "[S] 来源文件明确规定", "D": "[D] 推定标准，可配置", "SD": "[S/D] 部分明确规定、部分推定"}


def render_standard(standard: Standard) -> str:
    """Every dimension and item with its rule, evidence, conditions and quoted source clause."""
    ctx = Context(standard, AnswerSheet(), {a.key: a.default for a in standard.attributes}, (), dt.date.today())
    lines = [
        f"{standard.title}",
        f"编号 {standard.ref}  （{'已发布' if standard.status == 'published' else '草稿'}）",
        f"层级：{'乡镇（街道）' if standard.level == 'township' else '村（社区）'}    适用地区：{standard.jurisdiction}",
    ]
    if standard.extends:
        lines.append(f"基于：{standard.extends}")
    if standard.deadline:
        lines.append(f"完成时限：{standard.deadline.isoformat()}")
    lines.append(f"内容哈希：{standard.content_hash}")
    if standard.attributes:
        lines.append("单位属性：" + "、".join(f"{a.name}（{a.key}）" for a in standard.attributes))
    for dim in standard.dimensions:
        items = [i for i in standard.items if i.dimension == dim.code]
        lines += ["", f"【{dim.code} {dim.name}（{dim.short}）】 {len(items)} 项，权重 {dim.weight:g}"]
        for item in items:
            gate = "必备" if item.mandatory else "评分"
            lines.append(f"  {item.id} [{gate}] {item.question}")
            lines.append(f"      答题方式：{ANSWER_NAMES[item.answer]}" + (f"（{'、'.join(item.options)}）" if item.options else ""))
            lines.append(f"      达标要求：{describe(item.rule, item, ctx)}    {BASIS_NAMES[item.basis]}")
            need = []
            if item.evidence.photos:
                need.append(f"照片 {item.evidence.photos} 张")
            if item.evidence.documents:
                need.append(f"文件 {item.evidence.documents} 份")
            if need:
                lines.append("      证明材料：" + "、".join(need))
            if item.when:
                names = {a.key: a.name for a in standard.attributes}
                conds = "、".join(f"{names.get(c.attr, c.attr)}={'是' if c.equals is True else '否' if c.equals is False else c.equals}" for c in item.when)
                lines.append(f"      适用条件：{conds}")
            if item.na_allowed:
                lines.append("      可填报“不适用”（须说明理由）")
            for clause in item.provenance:
                where = f" 第{clause.line}行" if clause.line else ""
                lines.append(f"      依据：{clause.source}{where}：“{clause.quote}”")
            if item.note:
                lines.append(f"      说明：{item.note}")
    return "\n".join(lines)

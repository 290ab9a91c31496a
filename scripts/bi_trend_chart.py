#!/usr/bin/python3
"""Draw a trend chart from the hub's bi schema, as a BI tool would.

usage: bi_trend_chart.py URL INDICATOR OUT.png

URL is a SQLAlchemy URL of a BI login (postgresql+psycopg2://...). The
script reads INDICATOR's rows of bi.street_indicator_series, in the order of
bi.periods, with its Chinese label and unit from bi.indicators, and draws one
line per street (街道) that is not 0 throughout: a withheld value (NULL, suppressed) is a gap in its
line, never a zero. It writes the chart to OUT.png and prints what it drew as
JSON, {"label": ..., "periods": [...], "streets": {code: [value or null, ...]}},
which internal/server's TestTrendChart compares with indicatorSeries.
Needs python3-matplotlib (scripts/install-deps.sh).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

# Chinese labels: Noto Sans CJK where installed (fonts-noto-cjk).
plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "Noto Sans CJK JP", "DejaVu Sans"]
plt.rcParams["axes.unicode_minus"] = False


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: bi_trend_chart.py URL INDICATOR OUT.png")
    url, indicator, out = sys.argv[1:]
    engine = create_engine(url)
    with engine.connect() as conn:
        label, unit = conn.execute(
            text("SELECT label, unit FROM bi.indicators WHERE indicator = :i"), {"i": indicator}
        ).one()
        periods = [r[0] for r in conn.execute(text("SELECT period FROM bi.periods ORDER BY position"))]
        rows = conn.execute(
            text(
                "SELECT s.period, s.code, s.name, s.value FROM bi.street_indicator_series s"
                " WHERE s.indicator = :i ORDER BY s.code"
            ),
            {"i": indicator},
        ).all()
    streets, names = {}, {}
    for period, code, name, value in rows:
        names[code] = name
        streets.setdefault(code, [None] * len(periods))[periods.index(period)] = value

    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=100)
    # Streets at 0 in every period would only stack up on the axis.
    drawn = [c for c in sorted(streets) if any(v for v in streets[c])]
    for code in drawn:
        # matplotlib leaves a gap at a NaN: a withheld value is not drawn.
        ys = [float("nan") if v is None else v for v in streets[code]]
        ax.plot(periods, ys, marker="o", label="%s %s" % (code, names[code]))
    ax.set_title("%s（%s）各街道按月趋势 · 数据来自 bi.street_indicator_series" % (label, unit))
    ax.set_xlabel("期间")
    ax.set_ylabel("%s（%s）" % (label, unit))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.text(0, -0.16, "空缺处：该数值依小数保护规则不予公布（bi 表中 value 为 NULL，suppressed 为 true）；"
            "未画出的 %d 个街道各期均为 0" % (len(streets) - len(drawn)),
            transform=ax.transAxes, fontsize=8, color="#555555")
    fig.tight_layout()
    fig.savefig(out)
    json.dump({"label": label, "periods": periods, "streets": streets}, sys.stdout)


if __name__ == "__main__":
    main()

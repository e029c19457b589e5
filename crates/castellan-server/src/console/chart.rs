//! Server-rendered SVG charts (no script, no library): built from numbers, every label
//! escaped, each chart with a `<title>` and a text equivalent beside it on the page.

/// Escapes text for SVG/HTML content and attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Stacked bars: per label, successes (green) under failures (red).
pub fn sign_ins_by_day(title: &str, days: &[(String, u64, u64)]) -> String {
    let (w, h, pad, foot) = (640.0_f64, 200.0_f64, 30.0_f64, 28.0_f64);
    let max = days.iter().map(|(_, a, b)| a + b).max().unwrap_or(0).max(1) as f64;
    let n = days.len().max(1) as f64;
    let slot = (w - pad) / n;
    let bar = (slot * 0.6).max(2.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {total}\" role=\"img\" aria-labelledby=\"chart-title\"><title id=\"chart-title\">{t}</title>",
        total = h + foot,
        t = esc(title)
    );
    out.push_str(&format!(
        "<line x1=\"{pad}\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" stroke=\"#8a8a8a\"/><text x=\"0\" y=\"12\" font-size=\"11\" fill=\"#505050\">{}</text>",
        max as u64
    ));
    for (i, (label, ok, fail)) in days.iter().enumerate() {
        let x = pad + slot * i as f64 + (slot - bar) / 2.0;
        let ok_h = (*ok as f64) / max * (h - 10.0);
        let fail_h = (*fail as f64) / max * (h - 10.0);
        out.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{ok_h:.1}\" fill=\"#0b6a0b\"><title>{} success: {ok}</title></rect>",
            h - ok_h,
            esc(label)
        ));
        out.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{fail_h:.1}\" fill=\"#a4262c\"><title>{} failure: {fail}</title></rect>",
            h - ok_h - fail_h,
            esc(label)
        ));
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#1b1b1b\">{}</text>",
            x + bar / 2.0,
            h + 16.0,
            esc(label)
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_scale() {
        let svg = sign_ins_by_day("<script>", &[("<b>".into(), 3, 1), ("d2".into(), 0, 0)]);
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;b&gt; success: 3"));
        assert!(
            svg.contains("height=\"190.0\"") || svg.contains("height=\"142.5\""),
            "{svg}"
        );
        // No data draws an empty chart, not a division by zero.
        assert!(sign_ins_by_day("t", &[]).ends_with("</svg>"));
    }
}

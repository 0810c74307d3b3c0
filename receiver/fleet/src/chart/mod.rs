//! Time-series line charts drawn with plotters: SVG for the dashboard, PNG for Telegram.
//!
//! One line per series with a legend, time on the x axis (in the configured time zone), the value
//! on the y axis (percent, load per CPU or bytes per second), and the alert threshold as a dashed
//! red line when there is one. Text uses DejaVu Sans embedded in the binary (`fonts/`, with its
//! licence), so the PNG needs no system font library.

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// How values read on the y axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 0–100 %.
    Percent,
    /// Load per CPU (1.0 = every CPU busy).
    PerCpu,
    /// Bytes per second.
    BytesPerSecond,
}

/// One line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    /// (unix seconds, value), oldest first; non-finite values are left out.
    pub points: Vec<(f64, f64)>,
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub unit: Unit,
    pub threshold: Option<f64>,
    pub lines: Vec<Line>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub tz: Tz,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("cannot load the embedded font: {0}")]
    Font(String),
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    #[error("cannot encode the PNG: {0}")]
    Encode(String),
}

/// The line colours, in order; distinct for the common colour blindnesses (Okabe–Ito).
pub const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(100, 100, 100),
];
const THRESHOLD: RGBColor = RGBColor(200, 0, 0);

fn font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, FONT).map_err(|_| "not a TrueType font".into())
        })
        .clone()
        .map_err(ChartError::Font)
}

/// The chart as an SVG document (text is escaped by plotters).
pub fn to_svg(chart: &Chart) -> Result<String, ChartError> {
    font()?;
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (chart.width, chart.height)).into_drawing_area();
        draw(&root, chart)?;
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}

/// The chart as a PNG image.
pub fn to_png(chart: &Chart) -> Result<Vec<u8>, ChartError> {
    font()?;
    let (w, h) = (chart.width, chart.height);
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, chart)?;
        root.present().map_err(draw_err)?;
    }
    let mut png = Vec::new();
    let mut enc = png::Encoder::new(&mut png, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc
        .write_header()
        .map_err(|e| ChartError::Encode(e.to_string()))?;
    writer
        .write_image_data(&rgb)
        .map_err(|e| ChartError::Encode(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| ChartError::Encode(e.to_string()))?;
    Ok(png)
}

fn draw_err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> Result<(), ChartError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let x0 = chart.start.timestamp() as f64;
    let x1 = (chart.end.timestamp() as f64).max(x0 + 1.0);
    let (y0, y1) = y_range(chart);
    let tz = chart.tz;
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, (FAMILY, 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_err)?;
    let span = x1 - x0;
    let unit = chart.unit;
    ctx.configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| time_label(*x, span, tz))
        .y_label_formatter(&|y| value_label(unit, *y))
        .x_desc(format!("time ({tz})"))
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 12))
        .light_line_style(RGBColor(246, 246, 246))
        .draw()
        .map_err(draw_err)?;

    let mut any = false;
    for (i, line) in chart.lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let pts: Vec<(f64, f64)> = line
            .points
            .iter()
            .copied()
            .filter(|(_, v)| v.is_finite())
            .collect();
        any |= !pts.is_empty();
        // A lone point makes no line: mark it so a new agent's first sample shows.
        if let [p] = pts[..] {
            ctx.draw_series(std::iter::once(Circle::new(p, 3, colour.filled())))
                .map_err(draw_err)?;
        }
        ctx.draw_series(LineSeries::new(pts, colour.stroke_width(2)))
            .map_err(draw_err)?
            .label(line.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(3)));
    }
    if let Some(t) = chart.threshold {
        let dashes = dashed(x0, x1, t);
        ctx.draw_series(
            dashes
                .into_iter()
                .map(|seg| PathElement::new(seg, THRESHOLD.stroke_width(1))),
        )
        .map_err(draw_err)?
        .label(format!("threshold {}", value_label(unit, t)))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], THRESHOLD.stroke_width(1)));
    }
    if !any {
        let style = TextStyle::from((FAMILY, 16).into_font()).color(&RGBColor(120, 120, 120));
        let (w, h) = root.dim_in_pixel();
        root.draw(&Text::new(
            "no data for this period",
            (w as i32 / 2 - 80, h as i32 / 2),
            style,
        ))
        .map_err(draw_err)?;
    }
    if !chart.lines.is_empty() || chart.threshold.is_some() {
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FAMILY, 12))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

/// Short segments along y = `t`: a dashed threshold line.
fn dashed(x0: f64, x1: f64, t: f64) -> Vec<[(f64, f64); 2]> {
    let n = 60;
    let step = (x1 - x0) / n as f64;
    (0..n)
        .step_by(2)
        .map(|i| {
            let a = x0 + step * i as f64;
            [(a, t), (a + step, t)]
        })
        .collect()
}

fn y_range(chart: &Chart) -> (f64, f64) {
    let max = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(chart.threshold.unwrap_or(0.0));
    match chart.unit {
        Unit::Percent => (0.0, 100.0),
        Unit::PerCpu => (0.0, (max * 1.15).max(1.0)),
        Unit::BytesPerSecond => (0.0, (max * 1.15).max(1024.0)),
    }
}

fn time_label(x: f64, span: f64, tz: Tz) -> String {
    let Some(t) = tz.timestamp_opt(x as i64, 0).single() else {
        return String::new();
    };
    if span > 2.0 * 86400.0 {
        t.format("%m-%d %H:%M").to_string()
    } else {
        t.format("%H:%M").to_string()
    }
}

/// A value as the axis and legend show it.
pub fn value_label(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Percent => format!("{v:.0}%"),
        Unit::PerCpu => format!("{v:.2}"),
        Unit::BytesPerSecond => format!("{}/s", human_bytes(v)),
    }
}

/// 1536 → "1.5 KiB".
pub fn human_bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = v;
    let mut i = 0;
    while v.abs() >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

//! Every figure `smmcool paper` makes, rendered once (the published grids) and looked at as a
//! reader would: the PNG decodes, is the size its SVG says and is not blank; the axis labels
//! are drawn; no text leaves the canvas; the legend lies below the plot, where it covers no
//! data; and the PNG's plot area holds the colours of the data drawn on it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The figures of `smmcool paper`, made once for every test of this file.
fn figures() -> &'static (tempfile::TempDir, Vec<PathBuf>) {
    static FIGURES: OnceLock<(tempfile::TempDir, Vec<PathBuf>)> = OnceLock::new();
    FIGURES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut files = smmcool::figures::paper_analytic(dir.path()).unwrap();
        files.extend(smmcool::figures::paper_kinetic(dir.path(), 1).unwrap());
        (dir, files)
    })
}

/// The stems (path without extension) of the figures: each has a PNG, an SVG and a CSV.
fn stems() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = figures()
        .1
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
        .map(|f| f.with_extension(""))
        .collect();
    out.sort();
    out
}

/// RGB pixels of a PNG, row by row, and its size.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("{}: colour type {other:?}", path.display()),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{}", path.display());
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, px)
}

/// A `<text>` of an SVG written by plotters: position, anchor, size (px), rotation, content.
#[derive(Debug)]
struct Text {
    x: f64,
    y: f64,
    anchor: String,
    size_px: f64,
    rotated: bool,
    text: String,
}

fn svg_texts(svg: &str) -> Vec<Text> {
    let attr = common::svg_attr;
    common::svg_text_elements(svg)
        .into_iter()
        .map(|(tag, text)| Text {
            x: attr(tag, "x").unwrap().parse().unwrap(),
            y: attr(tag, "y").unwrap().parse().unwrap(),
            anchor: attr(tag, "text-anchor").unwrap_or_else(|| "start".into()),
            size_px: attr(tag, "font-size").unwrap().parse().unwrap(),
            rotated: attr(tag, "transform").is_some(),
            text,
        })
        .collect()
}

/// Width and height in px of `text` drawn by plotters at an SVG font size (plotters writes
/// its font size divided by 1.24 into the SVG).
fn text_box_px(text: &str, svg_size_px: f64) -> (f64, f64) {
    use plotters::style::IntoFont;
    smmcool::figures::plot::init_font().unwrap();
    let size = (svg_size_px * 1.24).round();
    let (w, h) = ("sans-serif", size).into_font().box_size(text).unwrap();
    (f64::from(w), f64::from(h).max(size))
}

/// The SVG's canvas size.
fn svg_size(svg: &str) -> (u32, u32) {
    let tag = &svg[svg.find("<svg").unwrap()..];
    let num = |name: &str| -> u32 {
        let key = format!(" {name}=\"");
        let s = tag.find(&key).unwrap() + key.len();
        tag[s..s + tag[s..].find('"').unwrap()].parse().unwrap()
    };
    (num("width"), num("height"))
}

/// The CSV's header (its axis labels, commas written as semicolons) and series names (the
/// first column of a chart's CSV; none for a heat map's, whose rows are x, y, z).
fn csv_header_and_series(path: &Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let mut series = Vec::new();
    if header[0] == "series" {
        for l in lines {
            let name = l.rsplitn(3, ',').nth(2).unwrap().to_string();
            if !series.contains(&name) {
                series.push(name);
            }
        }
    }
    (header, series)
}

#[test]
fn every_paper_figure_renders_readably() {
    let stems = stems();
    // Figs. 2-6 and tau(B) (8), and the time-domain figures of `smmcool paper`.
    assert!(stems.len() >= 20, "{stems:?}");
    let mut report = BTreeMap::new();
    for stem in &stems {
        let name = stem.file_name().unwrap().to_string_lossy().to_string();
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        let (w, h, px) = decode_png(&stem.with_extension("png"));
        // One journal column at 300 dpi, the size the SVG has too.
        assert_eq!((w, h), svg_size(&svg), "{name}");
        assert_eq!(w, 1004, "{name}");
        // Not blank: drawn pixels (not white) are a real share of the canvas, and the plot
        // area (the top 0.7 of the width, inside the axes) holds colours other than the
        // greys of axes, grid and text.
        let drawn = px.iter().filter(|p| **p != [255, 255, 255]).count();
        let share = drawn as f64 / px.len() as f64;
        assert!((0.02..0.8).contains(&share), "{name}: {share}");
        let plot_rows = (w * 7 / 10) as usize;
        let coloured = px[..plot_rows * w as usize]
            .iter()
            .filter(|p| {
                let (lo, hi) = (p.iter().min().unwrap(), p.iter().max().unwrap());
                hi - lo > 40
            })
            .count();
        assert!(
            coloured > 500,
            "{name}: {coloured} coloured pixels in the plot"
        );
        report.insert(name.clone(), (share, coloured));
        // The axis labels of the CSV's header are drawn (the y label rotated).
        let texts = svg_texts(&svg);
        let (header, series) = csv_header_and_series(&stem.with_extension("csv"));
        let drawn_text = |label: &str| texts.iter().any(|t| t.text.replace(',', ";") == label);
        for label in &header[if header[0] == "series" { 1 } else { 0 }..] {
            assert!(drawn_text(label), "{name}: axis label {label:?} not drawn");
        }
        assert_text_inside(&name, &texts, w, h);
        // The legend (the series' names) lies below the plot area, where no data are drawn.
        for s in series.iter().filter(|s| !s.is_empty()) {
            let entries: Vec<&Text> = texts
                .iter()
                .filter(|t| t.text.replace(',', ";") == *s)
                .collect();
            for t in entries {
                assert!(
                    t.y > f64::from(w * 7 / 10),
                    "{name}: legend entry {s:?} at y = {} inside the plot (0..{})",
                    t.y,
                    w * 7 / 10
                );
            }
        }
    }
    eprintln!("{report:#?}");
}

/// The paper's quoted values are overlaid where its text gives them, labelled as quotes with
/// their section, and drawn in black (the legend's colour of a quote).
#[test]
fn the_papers_quoted_values_are_overlaid_and_labelled() {
    let dir = figures().0.path();
    for (file, labels) in [
        ("fig3_tau", vec![smmcool::figures::PAPER_T_MAX_LABEL]),
        (
            "practical_times",
            vec![
                smmcool::figures::PAPER_T_MAX_LABEL,
                smmcool::figures::PAPER_FEW_K_LABEL,
            ],
        ),
    ] {
        let (_, series) = csv_header_and_series(&dir.join(format!("{file}.csv")));
        let texts = svg_texts(&std::fs::read_to_string(dir.join(format!("{file}.svg"))).unwrap());
        for label in labels {
            assert!(label.starts_with("quoted from the paper (Sec. "), "{label}");
            assert!(series.iter().any(|s| s == label), "{file}: {label}");
            assert!(texts.iter().any(|t| t.text == label), "{file}: {label}");
        }
    }
    // The quoted T_max line stands at the quoted 4.6 K in both figures.
    for file in ["fig3_tau", "practical_times"] {
        let text = std::fs::read_to_string(dir.join(format!("{file}.csv"))).unwrap();
        let xs: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with(smmcool::figures::PAPER_T_MAX_LABEL))
            .map(|l| l.rsplit(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(xs, vec![smmcool::figures::PAPER_T_MAX_K; 2], "{file}");
    }
}

/// No text leaves the `w` x `h` canvas: its box from the anchor, font size and the font's
/// metrics (rotated text: the y label, width along y).
fn assert_text_inside(name: &str, texts: &[Text], w: u32, h: u32) {
    for t in texts {
        let (tw, th) = text_box_px(&t.text, t.size_px);
        let f = match t.anchor.as_str() {
            "middle" => 0.5,
            "end" => 1.0,
            _ => 0.0,
        };
        let (x0, x1, y0, y1) = if t.rotated {
            // rotate(270) about (x, y): the text runs upwards, its height to the right.
            (t.x, t.x + th, t.y - (1.0 - f) * tw, t.y + f * tw)
        } else {
            (t.x - f * tw, t.x + (1.0 - f) * tw, t.y - th, t.y + th)
        };
        assert!(
            x0 >= -1.0 && x1 <= f64::from(w) + 1.0 && y0 >= -th && y1 <= f64::from(h) + 1.0,
            "{name}: {:?} outside the {w} x {h} canvas ({x0:.0}..{x1:.0}, {y0:.0}..{y1:.0})",
            t.text
        );
    }
}

/// `--column-width double`: the analytic figures drawn for two journal columns are 17.8 cm
/// (2102 px at 300 dpi) wide, as high as the single-column ones, with the same font sizes
/// (7-9 pt at the printed size), every text inside the canvas and the axis labels drawn.
#[test]
fn double_column_figures_are_wider_with_the_same_fonts() {
    use smmcool::figures::plot::{with_column_width, ColumnWidth};
    let dir = tempfile::tempdir().unwrap();
    let files = with_column_width(ColumnWidth::Double, || {
        smmcool::figures::paper_analytic(dir.path()).unwrap()
    });
    let single = figures().0.path();
    let mut checked = 0;
    for png in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
    {
        let name = png.file_name().unwrap().to_string_lossy().to_string();
        let svg = std::fs::read_to_string(png.with_extension("svg")).unwrap();
        let (w, h, _) = decode_png(png);
        assert_eq!((w, h), svg_size(&svg), "{name}");
        assert_eq!(w, 2102, "{name}");
        let single_svg = std::fs::read_to_string(single.join(&name).with_extension("svg")).unwrap();
        let (_, single_h) = svg_size(&single_svg);
        let texts = svg_texts(&svg);
        // The plot keeps the single column's height (0.7 x 1004 px); the legend below it may
        // need fewer rows on the wider canvas.
        assert!(h <= single_h && h > 702, "{name}: {h} vs {single_h}");
        let sizes = |ts: &[Text]| {
            let mut v: Vec<u64> = ts.iter().map(|t| t.size_px.to_bits()).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        assert_eq!(
            sizes(&texts),
            sizes(&svg_texts(&single_svg)),
            "{name}: font sizes"
        );
        assert_text_inside(&name, &texts, w, h);
        let (header, _) = csv_header_and_series(&png.with_extension("csv"));
        for label in &header[if header[0] == "series" { 1 } else { 0 }..] {
            assert!(
                texts.iter().any(|t| t.text.replace(',', ";") == *label),
                "{name}: axis label {label:?} not drawn"
            );
        }
        checked += 1;
    }
    assert!(checked >= 7, "{checked}");
}

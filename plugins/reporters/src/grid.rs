//! Plain-text columns, aligned by character count (colour escapes, which
//! take no room on screen, are not counted).

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

pub use Align::{Left as L, Right as R};

/// The gap between two columns.
const GAP: &str = "  ";

/// The columns `s` takes on screen: its characters, less SGR escapes
/// (`ESC [ … m`, the only ones reporters write).
fn width(s: &str) -> usize {
    let mut n = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Skip to the escape's final `m`.
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// Lays `rows` out in columns, each line starting with `indent`. A column
/// not named in `align` is left-aligned; a short row leaves its last
/// columns empty. Lines carry no trailing spaces.
pub fn lay_out(rows: &[Vec<String>], align: &[Align], indent: &str) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| width(s))
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::from(indent);
            for (c, w) in widths.iter().enumerate() {
                let cell = row.get(c).map_or("", String::as_str);
                let pad = " ".repeat(w - width(cell));
                if c > 0 {
                    line.push_str(GAP);
                }
                match align.get(c).copied().unwrap_or(Align::Left) {
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&pad);
                    }
                    Align::Right => {
                        line.push_str(&pad);
                        line.push_str(cell);
                    }
                }
            }
            line.truncate(line.trim_end().len());
            line
        })
        .collect()
}

/// A table: a header row, a `─` rule as wide as the widest line, the rows.
/// Ends with a newline.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>, align: &[Align]) -> String {
    let mut all = Vec::with_capacity(rows.len() + 1);
    all.push(headers.iter().map(|h| (*h).to_owned()).collect());
    all.extend(rows);
    let mut lines = lay_out(&all, align, "");
    let rule = "─".repeat(lines.iter().map(|l| width(l)).max().unwrap_or(0));
    lines.insert(1, rule);
    lines_to_text(&lines)
}

/// Joins lines, each followed by a newline.
pub fn lines_to_text(lines: &[String]) -> String {
    lines.iter().flat_map(|l| [l.as_str(), "\n"]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn columns_align_by_characters_not_bytes() {
        let lines = lay_out(&[row(&["é", "1"]), row(&["abc", "100"])], &[L, R], "  ");
        assert_eq!(lines, ["  é      1", "  abc  100"]);
    }

    #[test]
    fn colour_escapes_take_no_width() {
        let green = "\x1b[32mok\x1b[0m";
        let lines = lay_out(&[row(&[green, "1"]), row(&["abcd", "100"])], &[L, R], "");
        assert_eq!(lines, [format!("{green}      1"), "abcd  100".to_owned()]);
    }

    #[test]
    fn tables_have_a_rule_and_no_trailing_spaces() {
        let text = table(
            &["NAME", "STATE"],
            vec![row(&["a", ""]), row(&["long-name", "ok"])],
            &[],
        );
        assert_eq!(
            text,
            "NAME       STATE\n────────────────\na\nlong-name  ok\n"
        );
    }
}

//! The history web UI: `GET /` (the page) and `GET /ui/<file>` (its
//! scripts, styles and the vendored D3), embedded in the binary.
//!
//! The files live in `core/src/daemon/web/` and are plain ES modules: no
//! Node, npm or bundler takes part in `cargo build`. Every answer carries a
//! strict Content-Security-Policy (scripts, styles and connections from
//! this origin only, no inline script or style, no framing), `nosniff` and
//! `no-referrer`. The page reads the API with relative URLs, so it works
//! under every host name the `Host` rule accepts and on any port; it never
//! needs the write token.
//!
//! Every file goes gzipped to a client that accepts it (`Accept-Encoding`),
//! compressed once, on its first such request, and kept: the first load
//! of the page is then about a third of its plain size. `Vary:
//! Accept-Encoding` on every answer, and one entity tag per encoding.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;

/// The policy every UI answer carries. `img-src data:` is for the status
/// favicon; D3's `style()` goes through the CSSOM, which `style-src 'self'`
/// allows, while `style="…"` attributes are refused.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Its path under `/ui/` (`index.html` is served at `/`).
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../web/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the UI.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("insights.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("format.js", JS),
    asset!("status.js", JS),
    asset!("route.js", JS),
    asset!("runs.js", JS),
    asset!("detail.js", JS),
    asset!("graph.js", JS),
    asset!("layout.js", JS),
    asset!("timeline.js", JS),
    asset!("search.js", JS),
    asset!("gantt.js", JS),
    asset!("gantt-layout.js", JS),
    asset!("selection.js", JS),
    asset!("filter.js", JS),
    asset!("insights.js", JS),
    asset!("insights-logic.js", JS),
    asset!("task-history.js", JS),
    asset!("compare.js", JS),
    asset!("drawer.js", JS),
    asset!("panels.js", JS),
    asset!("vendor/d3.v7.9.2.min.js", JS),
    asset!("vendor/LICENSE-d3.txt", "text/plain; charset=utf-8"),
];

/// `GET /`: the page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve(find("index.html"), &headers)
}

/// `GET /ui/<file>`: a script, a style sheet, the vendored D3.
pub(crate) async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match find(&name).filter(|a| a.name != "index.html") {
        Some(asset) => serve(Some(asset), &headers),
        None => ApiError::not_found(format!("no such file: /ui/{name}")).into_response(),
    }
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The file with its headers; 304 when the browser's copy is current.
fn serve(asset: Option<&'static Asset>, request: &HeaderMap) -> Response {
    let Some(asset) = asset else {
        return ApiError::not_found("the web UI is not built in").into_response();
    };
    let gzip = if accepts_gzip(request) {
        gzipped(asset)
    } else {
        None
    };
    // One tag per representation: the gzipped bytes are another entity.
    let etag = match gzip {
        Some(_) => format!("{}-gz\"", etag(asset).trim_end_matches('"')),
        None => etag(asset).to_owned(),
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            gzip.unwrap_or(asset.body),
        )
            .into_response()
    };
    let h = response.headers_mut();
    // Caches keep the two encodings apart.
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip.is_some() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Revalidate every time (a 304 is cheap): a new binary serves new files
    // under the same names.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

/// Whether the request's `Accept-Encoding` allows gzip (`gzip` or `*`,
/// unless given `q=0`).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// The file gzipped, compressed on first use and kept; None when gzip
/// would not make it smaller.
fn gzipped(asset: &'static Asset) -> Option<&'static [u8]> {
    static GZIPPED: OnceLock<Vec<OnceLock<Option<Vec<u8>>>>> = OnceLock::new();
    let all = GZIPPED.get_or_init(|| ASSETS.iter().map(|_| OnceLock::new()).collect());
    let index = ASSETS.iter().position(|a| std::ptr::eq(a, asset))?;
    all.get(index)?
        .get_or_init(|| gzip(asset.body).filter(|gz| gz.len() < asset.body.len()))
        .as_deref()
}

/// `bytes` as a gzip member (best compression; no name, no time: the same
/// bytes every time).
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

/// The file's entity tag: a hash of its bytes, computed once.
fn etag(asset: &'static Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{:016x}\"", fnv1a(a.body)))
            .collect()
    });
    let index = ASSETS
        .iter()
        .position(|a| std::ptr::eq(a, asset))
        .unwrap_or(0);
    tags.get(index).map_or("\"0\"", String::as_str)
}

/// 64-bit FNV-1a: not cryptographic, only a change detector.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn gzip_is_sent_only_to_clients_that_accept_it() {
        assert!(accepts_gzip(&headers("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(&headers("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("br, identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn every_text_file_has_a_smaller_gzipped_form_that_unpacks_to_it() {
        use std::io::Read;
        for asset in ASSETS {
            let gz = gzipped(asset).unwrap_or_else(|| panic!("{} not gzipped", asset.name));
            assert!(gz.len() < asset.body.len(), "{}", asset.name);
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(gz)
                .read_to_end(&mut plain)
                .expect("gunzip");
            assert!(plain == asset.body, "{} unpacks to other bytes", asset.name);
            // Compressed once: the same bytes the second time.
            assert!(std::ptr::eq(gz, gzipped(asset).unwrap_or_default()));
        }
    }

    #[test]
    fn every_asset_has_a_distinct_etag() {
        let mut tags: Vec<&str> = ASSETS.iter().map(etag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }

    #[test]
    fn the_page_loads_no_inline_script_or_style_and_nothing_remote() {
        let page = std::str::from_utf8(find("index.html").expect("index").body).expect("utf-8");
        assert!(!page.contains("<style"), "inline style");
        assert!(!page.contains("style="), "style attribute");
        for tag in page.split("<script").skip(1) {
            let tag = tag.trim_start();
            assert!(
                tag.starts_with("src=\"") || tag.starts_with("type=\"module\" src=\""),
                "{tag}"
            );
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "remote resource"
        );
    }

    #[test]
    fn no_script_builds_markup_from_strings() {
        let ours = ASSETS
            .iter()
            .filter(|a| a.name.ends_with(".js") && !a.name.starts_with("vendor/"));
        for asset in ours {
            let text = std::str::from_utf8(asset.body).expect("utf-8");
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!text.contains(sink), "{} uses {sink}", asset.name);
            }
        }
    }
}

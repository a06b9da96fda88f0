//! Response compression for `/metrics`: whether the client accepts gzip, and the encoder.
//!
//! Prometheus sends `Accept-Encoding: gzip` on every scrape; a few hundred series of text
//! exposition compress about tenfold, which matters when a sidecar is scraped every few seconds
//! across a fleet. Negotiation is pure (header values in, a decision out) so it is unit-tested.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

/// True when the `Accept-Encoding` header values allow a gzip response (RFC 9110 §12.5.3).
///
/// `gzip` (or its alias `x-gzip`) with a q-value above zero allows it; so does `*` with a
/// q-value above zero when gzip is not listed by name. No header, `identity`, or `gzip;q=0`
/// means the body is sent uncompressed. An element whose q-value cannot be read is ignored, so
/// a malformed header falls back to identity, which every client accepts.
pub fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut named: Option<bool> = None;
    let mut star: Option<bool> = None;
    for value in values {
        for element in value.split(|&b| b == b',') {
            let mut parts = element.split(|&b| b == b';');
            let coding = trim(parts.next().unwrap_or_default());
            let Some(q) = parts.find_map(q_value).unwrap_or(Some(1.0)) else {
                continue;
            };
            let allowed = q > 0.0;
            if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
                // "gzip;q=0" anywhere wins over a later "gzip": refusal is the safer reading.
                named = Some(named.unwrap_or(true) && allowed);
            } else if coding == b"*" {
                star = Some(star.unwrap_or(true) && allowed);
            }
        }
    }
    named.or(star).unwrap_or(false)
}

/// The q-value of one `;`-separated parameter: `None` if it is another parameter,
/// `Some(None)` if it is a `q` parameter that does not parse, `Some(Some(q))` otherwise.
fn q_value(param: &[u8]) -> Option<Option<f32>> {
    let param = trim(param);
    let (name, value) = param.split_at(param.iter().position(|&b| b == b'=')?);
    if !trim(name).eq_ignore_ascii_case(b"q") {
        return None;
    }
    let value = std::str::from_utf8(trim(&value[1..])).ok();
    Some(
        value
            .and_then(|v| v.parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q)),
    )
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// Gzip `body` at the fastest level: exposition text compresses well even so, and a sidecar
/// should spend as little CPU per scrape as it can.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    enc.write_all(body).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn accepts(values: &[&str]) -> bool {
        accepts_gzip(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn prometheus_and_browsers_get_gzip() {
        assert!(accepts(&["gzip"]));
        assert!(accepts(&["gzip, deflate, br, zstd"]));
        assert!(accepts(&["deflate", "GZip;q=0.5"]));
        assert!(accepts(&["x-gzip"]));
        assert!(accepts(&["br;q=1.0, gzip;q=0.8, *;q=0.1"]));
    }

    #[test]
    fn star_allows_gzip_unless_gzip_is_refused_by_name() {
        assert!(accepts(&["*"]));
        assert!(accepts(&["identity, *;q=0.5"]));
        assert!(!accepts(&["gzip;q=0, *"]));
        assert!(!accepts(&["*;q=0"]));
    }

    #[test]
    fn no_header_identity_and_refusals_get_plain_text() {
        assert!(!accepts(&[]));
        assert!(!accepts(&[""]));
        assert!(!accepts(&["identity"]));
        assert!(!accepts(&["deflate, br"]));
        assert!(!accepts(&["gzip;q=0"]));
        assert!(!accepts(&["gzip; q=0.000"]));
        assert!(!accepts(&["gzip;q=0", "gzip"]));
    }

    #[test]
    fn malformed_q_values_fall_back_to_identity() {
        assert!(!accepts(&["gzip;q=abc"]));
        assert!(!accepts(&["gzip;q=2"]));
        assert!(!accepts(&["gzip;q="]));
        // Other parameters are not q-values.
        assert!(accepts(&["gzip;level=9"]));
    }

    #[test]
    fn gzip_round_trips() {
        let text = b"# TYPE x counter\nx_total 1\n".repeat(100);
        let packed = gzip(&text);
        assert!(packed.len() < text.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }
}

//! The alert webhook's URL, parsed once and shown without its secrets.

use std::fmt;

/// The alert webhook; its `Debug` and `Display` hide credentials and the query.
#[derive(Clone, PartialEq, Eq)]
pub struct AlertUri(reqwest::Url);

impl AlertUri {
    /// An `http://` or `https://` URL with a host.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(raw.trim())
            .map_err(|e| format!("expected an http:// or https:// URL ({e})"))?;
        match url.scheme() {
            "http" | "https" if url.host_str().is_some() => Ok(Self(url)),
            _ => Err("expected an http:// or https:// URL".into()),
        }
    }

    /// The whole URL, credentials and query included, for the request itself.
    pub fn url(&self) -> &reqwest::Url {
        &self.0
    }
}

impl fmt::Display for AlertUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.0;
        write!(f, "{}://{}", url.scheme(), url.host_str().unwrap_or(""))?;
        if let Some(port) = url.port() {
            write!(f, ":{port}")?;
        }
        f.write_str(url.path())
    }
}

impl fmt::Debug for AlertUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlertUri({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_credentials_stay_out_of_debug_output() {
        let uri = AlertUri::parse("https://user:pw@hooks.example/x?key=abc").unwrap();
        let shown = format!("{uri:?} {uri}");
        assert!(!shown.contains("pw") && !shown.contains("abc"), "{shown}");
        assert!(shown.contains("hooks.example/x"), "{shown}");
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_accepted() {
        assert!(AlertUri::parse("ftp://hooks.example/x").is_err());
        assert!(AlertUri::parse("not-a-url").is_err());
        assert!(AlertUri::parse(" https://hooks.example/x ").is_ok());
    }
}

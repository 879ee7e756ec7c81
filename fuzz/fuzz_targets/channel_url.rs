//! The `--notify` URL parser (SPEC §14), fed arbitrary text and URLs built around a
//! planted secret.
//!
//! Properties: no panic; an accepted URL's name is `kind:host[:port]`, without a path,
//! query, user or password; neither the name, `Debug` nor an error's message ever holds
//! the secret planted in the user, password, path, query or fragment.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use overdue::alerts::Channel;

const SECRET: &str = "Zq7S3CR3Tx";
const SCHEMES: [&str; 16] = [
    "https", "http", "webhook+https", "slack+https", "discord+http", "teams+https",
    "ntfy+https", "ntfy+http", "telegram+https", "pagerduty+https", "opsgenie+https",
    "alertmanager+http", "smtp", "smtps", "gopher", "slack+ftp",
];

#[derive(Debug, Arbitrary)]
struct Parts {
    raw: String,
    scheme: u8,
    host: String,
    port: Option<u16>,
    user: String,
    path: String,
    query: String,
    fragment: String,
    plant: u8,
}

fn check(raw: &str, secret_planted: bool) {
    match Channel::parse(raw) {
        Ok(channel) => {
            let name = channel.name();
            let (kind, host) = name.split_once(':').expect("kind:host");
            assert!(!kind.is_empty() && !host.contains('/') && !host.contains('@'), "{name}");
            assert!(!host.contains('?') && !host.contains('#'), "{name}");
            // The key names the channel's outbox entries in the store: its name, '#'
            // and 16 hex digits.
            let key = channel.key();
            let (key_name, hash) = key.rsplit_once('#').expect("name#hash");
            assert_eq!(key_name, name, "{key}");
            assert!(hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
            let shown = format!("{channel} {channel:?} {key}");
            if secret_planted {
                assert!(!shown.contains(SECRET), "{raw:?} shown as {shown}");
            }
        }
        Err(e) => {
            let message = format!("{e} {e:?}");
            assert!(!message.contains('\n'), "{message}");
            assert!(message.contains("slack+https://"), "{message}");
            if secret_planted {
                assert!(!message.contains(SECRET), "{raw:?} refused as {message}");
            }
        }
    }
}

fuzz_target!(|parts: Parts| {
    check(&parts.raw, false);
    // The host and scheme are not secret: skip the property when the fuzzer put the
    // marker there itself.
    if parts.host.contains(SECRET) || parts.host.contains(['/', '?', '#', '@']) {
        return;
    }
    let scheme = SCHEMES[usize::from(parts.scheme) % SCHEMES.len()];
    let secret = |own: &str, bit: u8| {
        if parts.plant & bit != 0 {
            format!("{own}{SECRET}")
        } else {
            own.to_owned()
        }
    };
    let user = secret(&parts.user, 1);
    let password = secret("", 2);
    let path = secret(&parts.path, 4);
    let query = secret(&parts.query, 8);
    let fragment = secret(&parts.fragment, 16);
    let port = parts.port.map(|p| format!(":{p}")).unwrap_or_default();
    let raw = format!(
        "{scheme}://{user}:{password}@{}{port}/{path}?{query}#{fragment}",
        parts.host
    );
    check(&raw, true);
});

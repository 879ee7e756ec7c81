//! The Standard Webhooks signer.
//!
//! Properties: no panic on any secret; a signature is `v1,` and 44 characters of
//! base64; it verifies with an independent HMAC-SHA256 over `id.timestamp.body` under
//! the secret's bytes, or under the decoded bytes of a `whsec_` secret.
#![no_main]

use arbitrary::Arbitrary;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use overdue::alerts::Signer;
use sha2::Sha256;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Used as given (a plain secret, or anything starting with `whsec_`).
    secret: &'a str,
    /// Also signed with as `whsec_<base64 of these bytes>`.
    key: &'a [u8],
    id: &'a str,
    timestamp: i64,
    body: &'a [u8],
}

fn verify(key: &[u8], input: &Input<'_>, signature: &str) -> bool {
    let Some(encoded) = signature.strip_prefix("v1,") else {
        return false;
    };
    let Ok(tag) = STANDARD.decode(encoded) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(format!("{}.{}.", input.id, input.timestamp).as_bytes());
    mac.update(input.body);
    mac.verify_slice(&tag).is_ok()
}

fuzz_target!(|input: Input<'_>| {
    match Signer::new(input.secret) {
        Ok(signer) => {
            let signature = signer.sign(input.id, input.timestamp, input.body);
            assert!(
                signature.starts_with("v1,") && signature.len() == 47,
                "{signature}"
            );
            assert_eq!(
                signature,
                signer.sign(input.id, input.timestamp, input.body)
            );
            let key = match input.secret.strip_prefix("whsec_") {
                Some(encoded) => STANDARD.decode(encoded).expect("the signer accepted it"),
                None => input.secret.as_bytes().to_vec(),
            };
            assert!(verify(&key, &input, &signature), "{input:?}");
        }
        Err(_) => assert!(
            input.secret.starts_with("whsec_"),
            "only a whsec_ secret can be refused: {:?}",
            input.secret
        ),
    }

    let whsec = format!("whsec_{}", STANDARD.encode(input.key));
    let signer = Signer::new(&whsec).expect("whsec_ with valid base64 is accepted");
    let signature = signer.sign(input.id, input.timestamp, input.body);
    assert!(verify(input.key, &input, &signature), "{input:?}");
    // Another key does not verify it.
    let mut other = input.key.to_vec();
    other.push(0x5a);
    assert!(!verify(&other, &input, &signature));
});

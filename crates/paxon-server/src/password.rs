//! Password hashes and auth tokens.
//!
//! Passwords are hashed with PBKDF2-HMAC-SHA256 (ring), a random 16-byte
//! salt and [`PBKDF2_ITERATIONS`] rounds, by the member that receives
//! `user add` or `user passwd`, before the decree: the ledger and
//! snapshots hold the hash, never the password. (etcd uses bcrypt; PBKDF2
//! is what the crypto library already on board offers.) The stored form is
//! `pbkdf2-sha256$<rounds>$<salt hex>$<hash hex>`.
//!
//! Tokens are etcd's "simple" tokens: 16 random letters, a dot and a
//! per-member counter.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, pbkdf2};

/// PBKDF2 rounds: about a millisecond of work in a release build.
pub const PBKDF2_ITERATIONS: u32 = 10_000;
const SALT_BYTES: usize = 16;
const SCHEME: &str = "pbkdf2-sha256";
const TOKEN_LETTERS: usize = 16;

/// The stored form of `password`.
pub fn hash(password: &str) -> Result<Vec<u8>, String> {
    let mut salt = [0u8; SALT_BYTES];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "no randomness for a salt")?;
    let rounds = NonZeroU32::new(PBKDF2_ITERATIONS).expect("non-zero");
    let mut out = [0u8; digest::SHA256_OUTPUT_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        &salt,
        password.as_bytes(),
        &mut out,
    );
    Ok(format!("{SCHEME}${PBKDF2_ITERATIONS}${}${}", hex(&salt), hex(&out)).into_bytes())
}

/// Whether `password` matches `stored` (an empty or malformed hash
/// matches nothing: a user added with `--no-password`).
pub fn verify(stored: &[u8], password: &str) -> bool {
    let Ok(stored) = std::str::from_utf8(stored) else {
        return false;
    };
    let parts: Vec<&str> = stored.split('$').collect();
    let [SCHEME, rounds, salt, hash] = parts[..] else {
        return false;
    };
    let (Some(rounds), Some(salt), Some(hash)) = (
        rounds.parse().ok().and_then(NonZeroU32::new),
        unhex(salt),
        unhex(hash),
    ) else {
        return false;
    };
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        &salt,
        password.as_bytes(),
        &hash,
    )
    .is_ok()
}

/// A new simple token: 16 random letters, `.`, and a counter.
pub fn token() -> Result<String, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; TOKEN_LETTERS];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness for a token")?;
    let letters: String = bytes
        .iter()
        .map(|b| {
            let i = b % 52;
            char::from(if i < 26 { b'a' + i } else { b'A' + i - 26 })
        })
        .collect();
    Ok(format!(
        "{letters}.{}",
        COUNTER.fetch_add(1, Ordering::Relaxed) + 1
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_salts_differ() {
        let first = hash("s3cret").unwrap();
        let second = hash("s3cret").unwrap();
        assert_ne!(first, second, "a fresh salt each time");
        assert!(verify(&first, "s3cret"));
        assert!(verify(&second, "s3cret"));
        assert!(!verify(&first, "s3cret "));
        assert!(!verify(&first, ""));
        assert!(!verify(b"", ""), "a user without a password");
        assert!(!verify(b"pbkdf2-sha256$0$00$00", ""));
        assert!(String::from_utf8(first)
            .unwrap()
            .starts_with("pbkdf2-sha256$10000$"));
    }

    #[test]
    fn tokens_are_random_letters_and_a_counter() {
        let (a, b) = (token().unwrap(), token().unwrap());
        assert_ne!(a, b);
        let (letters, counter) = a.split_once('.').unwrap();
        assert_eq!(letters.len(), 16);
        assert!(letters.chars().all(|c| c.is_ascii_alphabetic()));
        assert!(counter.parse::<u64>().is_ok());
    }
}

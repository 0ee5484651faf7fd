//! The binary codec: the one module that knows the log's payloads are
//! bincode (2.0.1, serde path, `config::standard()`: little-endian, variable
//! length integers). Moving the format to another serde codec (postcard, say)
//! means changing this file and bumping the log's format version.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A value could not be encoded, or bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError {
    pub message: String,
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodecError {}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `value`, appending its bytes to `out`.
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(value, out, config())
        .map(|_| ())
        .map_err(|error| CodecError {
            message: error.to_string(),
        })
}

/// Encodes `value`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|error| CodecError {
        message: error.to_string(),
    })
}

/// Decodes a value from the front of `bytes`, allocating for its strings
/// at most `LIMIT_BYTES` in all.
fn decode_limited<T: DeserializeOwned, const LIMIT_BYTES: usize>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(bytes, config().with_limit::<LIMIT_BYTES>())
}

/// Decodes with a limit on what the decoder may allocate: the smallest
/// power of two (from 1 KiB) at least `bytes.len()`. bincode allocates a
/// string's buffer from its length prefix before reading it, so without a
/// limit a 229-byte record claiming a 16 GiB string made the reader
/// allocate 16 GiB (found by the `log_decode` fuzz target). Every byte of
/// a real string is a byte of the payload, so the limit never refuses a
/// log a writer produced. (Sequences are safe without it: serde caps what
/// they reserve ahead.)
fn decode_within_limit<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    const KIB: usize = 1 << 10;
    match bytes.len() {
        length if length <= KIB => decode_limited::<T, KIB>(bytes),
        length if length <= 0x1_0000 => decode_limited::<T, 0x1_0000>(bytes),
        length if length <= 0x10_0000 => decode_limited::<T, 0x10_0000>(bytes),
        length if length <= 0x100_0000 => decode_limited::<T, 0x100_0000>(bytes),
        _ => decode_limited::<T, { crate::log::RECORD_BYTES_MAX as usize }>(bytes),
    }
}

/// Decodes one value that must take exactly all of `bytes` and be its
/// canonical encoding: bincode reads a small integer or length written in a
/// longer varint form (`[251, 5, 0]` as 5) and a digest in upper case, and
/// would write them back otherwise, so a log could not round-trip byte for
/// byte. Re-encoding and comparing refuses those (found by reasoning about
/// the `log_decode` fuzz target's round trip; see docs/testing.md).
pub fn decode<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used_bytes) = decode_within_limit(bytes).map_err(|error| CodecError {
        message: error.to_string(),
    })?;
    if used_bytes != bytes.len() {
        return Err(CodecError {
            message: format!(
                "{} trailing bytes after the value",
                bytes.len() - used_bytes
            ),
        });
    }
    if !is_canonical(&value, bytes)? {
        return Err(CodecError {
            message: "not the canonical encoding of its value (a varint longer than it needs to be, or text in another form)".to_string(),
        });
    }
    Ok(value)
}

/// Whether `bytes` is exactly the encoding of `value`. A canonical encoding
/// is never longer than another encoding of the same value, so it is
/// written into a buffer of `bytes`' length — on the stack for the small
/// records that are almost all of a log, since this runs for every record
/// of every replay.
fn is_canonical<T: Serialize>(value: &T, bytes: &[u8]) -> Result<bool, CodecError> {
    const STACK_BYTES: usize = 256;
    if bytes.len() > STACK_BYTES {
        return Ok(encode(value)? == bytes);
    }
    let mut buffer = [0u8; STACK_BYTES];
    let room = &mut buffer[..bytes.len()];
    match bincode::serde::encode_into_slice(value, room, config()) {
        Ok(used_bytes) => Ok(used_bytes == bytes.len() && room[..] == *bytes),
        // Longer than `bytes`: not the encoding it came from.
        Err(_) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Code, Command, Input};

    #[test]
    fn round_trips_and_rejects_trailing_bytes() {
        let input = Input {
            at_us: 1_000,
            command: Command::Invoke {
                function: crate::FunctionId::from_bits(3),
                code: Code::success(50_000, 42),
                ingress_bytes: 7,
                egress_bytes: 9,
            },
        };
        let mut bytes = encode(&input).unwrap();
        assert_eq!(decode::<Input>(&bytes).unwrap(), input);
        bytes.push(0);
        assert!(decode::<Input>(&bytes).is_err());
        assert!(decode::<Input>(&[0xff]).is_err());
    }

    #[test]
    fn only_the_canonical_encoding_decodes() {
        assert_eq!(decode::<u64>(&[5]), Ok(5));
        // 5 as a u16 and as a u32 varint: bincode reads both as 5.
        for long_form in [&[251, 5, 0][..], &[252, 5, 0, 0, 0][..]] {
            let error = decode::<u64>(long_form).unwrap_err();
            assert!(error.message.contains("canonical"), "{error}");
        }
        // A string whose length is in the long form.
        assert!(decode::<String>(&[251, 1, 0, b'a']).is_err());
        assert_eq!(decode::<String>(&[1, b'a']), Ok("a".to_string()));
    }

    #[test]
    fn a_length_prefix_cannot_make_the_decoder_allocate_more_than_the_payload() {
        // A string of 2^60 bytes (a u64 varint), with one byte of it there:
        // refused before any buffer is allocated.
        let mut bytes = vec![253];
        bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
        bytes.push(b'a');
        assert!(decode::<String>(&bytes).is_err());
        // Strings that are there decode, at every limit tier.
        for length in [0usize, 1_000, 5_000, 100_000, 2_000_000, 20_000_000] {
            let text = "x".repeat(length);
            let bytes = encode(&text).unwrap();
            assert_eq!(decode::<String>(&bytes), Ok(text), "length {length}");
        }
    }
}

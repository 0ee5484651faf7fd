//! The binary codec: the one module that knows the log's payloads are
//! bincode (2.0.1, serde path, `config::standard()`: little-endian, variable
//! length integers). Moving the format to another serde codec (postcard, say)
//! means changing this file and bumping the log's format version.

use crate::Input;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A value could not be encoded, or bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError {
    /// What went wrong, in the encoder's words.
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
        .map_err(|error| encode_problem(&error))
}

/// Encodes `value`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|error| encode_problem(&error))
}

/// bincode's encode error in our words: its `Display` is its `Debug` text.
fn encode_problem(error: &bincode::error::EncodeError) -> CodecError {
    use bincode::error::EncodeError;
    let message = match error {
        EncodeError::Io { inner, .. } => inner.to_string(),
        EncodeError::OtherString(text) => text.clone(),
        EncodeError::Other(text) => (*text).to_string(),
        _ => "the value cannot be encoded".to_string(),
    };
    CodecError { message }
}

/// bincode's decode error in our words (its `Display` is its `Debug`
/// text, which names its own types): what was wrong with the bytes.
fn decode_problem(error: &bincode::error::DecodeError) -> CodecError {
    use bincode::error::DecodeError;
    let message = match error {
        DecodeError::UnexpectedEnd { .. } => "the record ends inside a value".to_string(),
        DecodeError::LimitExceeded => {
            "a length claims more bytes than the record holds".to_string()
        }
        DecodeError::InvalidIntegerType { .. } => "an integer of the wrong width".to_string(),
        DecodeError::UnexpectedVariant { found, .. } => {
            format!("an unknown variant number {found}")
        }
        DecodeError::Utf8 { .. } => "a text that is not UTF-8".to_string(),
        DecodeError::InvalidCharEncoding(_) => "an invalid character".to_string(),
        DecodeError::InvalidBooleanValue(value) => {
            format!("a boolean of value {value} (not 0 or 1)")
        }
        DecodeError::OutsideUsizeRange(value) => format!("a length of {value}, out of range"),
        DecodeError::OtherString(text) => crate::files::echo(text),
        DecodeError::Other(text) => (*text).to_string(),
        DecodeError::Io { inner, .. } => inner.to_string(),
        _ => "a value that does not decode".to_string(),
    };
    CodecError { message }
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
    let (value, used_bytes) = decode_within_limit(bytes).map_err(|error| decode_problem(&error))?;
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

/// Decodes one log input, as [`decode`] does, but reads the common case
/// directly: the serde path spent about 1,500 instructions on an input of a
/// dozen varints (visitors, per-read limit checks, and the canonical check's
/// re-encoding), a quarter of a whole replay step. [`wire`] reads bincode's
/// layout of `Input` (varints, `u32` variant tags, `0`/`1` bools) and takes
/// only canonical encodings of valid inputs; anything else — an error, or a
/// form it does not know — goes to the serde path, which decides and names
/// the problem. So the two can disagree only in speed: a test and the
/// `log_decode` fuzz target check that whatever the fast reader takes, the
/// serde path takes too, as the same value.
pub fn decode_input(bytes: &[u8]) -> Result<Input, CodecError> {
    match wire::input(bytes) {
        Some(input) => Ok(input),
        None => decode(bytes),
    }
}

/// Decodes one input of a log of format 8 or older (a function's definition
/// without start costs of its own), as [`decode_input`] does the current
/// layout: the wire reader first, the frozen serde types of `inputs_old`
/// otherwise.
pub fn decode_input_v8(bytes: &[u8]) -> Result<Input, CodecError> {
    match wire::input_v8(bytes) {
        Some(input) => Ok(input),
        None => decode::<super::inputs_old::InputV8>(bytes).map(Input::from),
    }
}

/// Decodes one input of a log of format 9 (start costs, no concurrency),
/// as [`decode_input_v8`] does for formats 2 to 8.
pub fn decode_input_v9(bytes: &[u8]) -> Result<Input, CodecError> {
    match wire::input_v9(bytes) {
        Some(input) => Ok(input),
        None => decode::<super::inputs_old::InputV9>(bytes).map(Input::from),
    }
}

/// Decodes one input of a log of format 11 (concurrency, none of format
/// 12's fields), as [`decode_input_v8`] does for formats 2 to 8.
pub fn decode_input_v11(bytes: &[u8]) -> Result<Input, CodecError> {
    match wire::input_v11(bytes) {
        Some(input) => Ok(input),
        None => decode::<super::inputs_old::InputV11>(bytes).map(Input::from),
    }
}

/// A reader of bincode's `config::standard()` layout for [`Input`], by hand.
pub mod wire {
    use crate::{
        Code, Command, FunctionDef, FunctionId, HostId, ImageId, Input, InvocationId, Outcome,
        Phase,
    };

    /// The input `bytes` encode, if they are the canonical encoding of one
    /// with nothing after it; `None` otherwise (the caller's serde path
    /// then decides).
    pub fn input(bytes: &[u8]) -> Option<Input> {
        input_in(bytes, Layout::Current)
    }

    /// [`input`] for a log of format 8 or older: a function's definition
    /// there has no start costs (formats 2 to 8 share one input layout).
    pub fn input_v8(bytes: &[u8]) -> Option<Input> {
        input_in(bytes, Layout::V8)
    }

    /// [`input`] for a log of format 9: a function's definition there has
    /// start costs but no concurrency.
    pub fn input_v9(bytes: &[u8]) -> Option<Input> {
        input_in(bytes, Layout::V9)
    }

    /// [`input`] for a log of format 11: a function's definition there has
    /// start costs and a concurrency, and none of format 12's fields.
    pub fn input_v11(bytes: &[u8]) -> Option<Input> {
        input_in(bytes, Layout::V11)
    }

    /// Which version's layout of `Input` to read.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Layout {
        /// Formats 2 to 8.
        V8,
        /// Formats 9 and 10.
        V9,
        /// Format 11.
        V11,
        /// This build's.
        Current,
    }

    fn input_in(bytes: &[u8], layout: Layout) -> Option<Input> {
        let mut reader = Reader { bytes };
        let at_us = reader.u64()?;
        let command = reader.command(layout)?;
        reader.bytes.is_empty().then_some(Input { at_us, command })
    }

    struct Reader<'a> {
        bytes: &'a [u8],
    }

    impl Reader<'_> {
        fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
            let (head, rest) = self.bytes.split_first_chunk::<N>()?;
            self.bytes = rest;
            Some(*head)
        }

        /// A varint: one byte below 251, else a marker and 2, 4 or 8
        /// little-endian bytes. Canonical only: the shortest form.
        fn u64(&mut self) -> Option<u64> {
            let [first] = self.take::<1>()?;
            let value = match first {
                0..=250 => return Some(u64::from(first)),
                251 => u64::from(u16::from_le_bytes(self.take()?)),
                252 => u64::from(u32::from_le_bytes(self.take()?)),
                253 => u64::from_le_bytes(self.take()?),
                _ => return None,
            };
            let shortest = match value {
                0..=250 => 0,
                251..=0xFFFF => 251,
                0x1_0000..=0xFFFF_FFFF => 252,
                _ => 253,
            };
            (first == shortest).then_some(value)
        }

        fn u32(&mut self) -> Option<u32> {
            u32::try_from(self.u64()?).ok()
        }

        fn bool(&mut self) -> Option<bool> {
            match self.take::<1>()? {
                [0] => Some(false),
                [1] => Some(true),
                _ => None,
            }
        }

        /// An `Option<u64>`: a `0` byte for `None`, a `1` byte and the value
        /// for `Some`.
        fn option_u64(&mut self) -> Option<Option<u64>> {
            match self.take::<1>()? {
                [0] => Some(None),
                [1] => Some(Some(self.u64()?)),
                _ => None,
            }
        }

        fn command(&mut self, layout: Layout) -> Option<Command> {
            Some(match self.u32()? {
                0 => Command::RegisterImage {
                    size_bytes: self.u64()?,
                },
                1 => {
                    // The fields in the order they are encoded.
                    let image = ImageId::from_bits(self.u64()?);
                    let memory_bytes = self.u64()?;
                    let scratch_bytes = self.u64()?;
                    let time_limit_us = self.u64()?;
                    let mut def = FunctionDef::new(image, memory_bytes, time_limit_us)
                        .with_scratch_bytes(scratch_bytes);
                    if layout != Layout::V8 {
                        def.cold_start_us = self.option_u64()?;
                        def.warm_start_us = self.option_u64()?;
                    }
                    if matches!(layout, Layout::V11 | Layout::Current) {
                        def.concurrency = self.u32()?;
                    }
                    // Format 12's fields of a function.
                    if layout == Layout::Current {
                        def.min_scale = self.u32()?;
                        def.cpu_millis = self.u32()?;
                    }
                    Command::RegisterFunction(def)
                }
                2 => Command::Invoke {
                    function: FunctionId::from_bits(self.u64()?),
                    code: self.code()?,
                    ingress_bytes: self.u64()?,
                    egress_bytes: self.u64()?,
                },
                3 => Command::Advance,
                4 => Command::Reap {
                    invocation: InvocationId::from_bits(self.u64()?),
                },
                5 => Command::HostDown {
                    host: HostId(self.u32()?),
                },
                6 => Command::HostUp {
                    host: HostId(self.u32()?),
                    disk_kept: self.bool()?,
                },
                7 => Command::DownloadFails {
                    image: ImageId::from_bits(self.u64()?),
                },
                8 => Command::CopyFails {
                    host: HostId(self.u32()?),
                    image: ImageId::from_bits(self.u64()?),
                },
                9 => Command::MainStorageLost,
                _ => return None,
            })
        }

        fn code(&mut self) -> Option<Code> {
            Some(Code {
                clone_us: self.u64()?,
                build_us: self.u64()?,
                run_us: self.u64()?,
                outcome: match self.u32()? {
                    0 => Outcome::Success {
                        output: self.u64()?,
                    },
                    1 => Outcome::Failure {
                        phase: match self.u32()? {
                            0 => Phase::Clone,
                            1 => Phase::Build,
                            2 => Phase::Run,
                            _ => return None,
                        },
                    },
                    _ => return None,
                },
            })
        }
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

    /// Every kind of command, with values at each varint width's edges.
    fn sample_inputs() -> Vec<Input> {
        use crate::{FunctionDef, FunctionId, HostId, ImageId, InvocationId, Outcome, Phase};
        let edges = [
            0,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFFFF_FFFF,
            0x1_0000_0000,
            u64::MAX,
        ];
        let mut inputs = Vec::new();
        for (i, &n) in edges.iter().enumerate() {
            let m = edges[(i + 3) % edges.len()];
            let outcome = if i % 2 == 0 {
                Outcome::Success { output: m }
            } else {
                Outcome::Failure {
                    phase: Phase::ALL[i % 3],
                }
            };
            let host = HostId(u32::try_from(n).unwrap_or(u32::MAX));
            for command in [
                Command::RegisterImage { size_bytes: n },
                Command::RegisterFunction(
                    FunctionDef::new(ImageId::from_bits(m), n, n).with_scratch_bytes(m),
                ),
                Command::RegisterFunction(
                    FunctionDef::new(ImageId::from_bits(n), m, n)
                        .with_cold_start_us(n)
                        .with_warm_start_us(m),
                ),
                Command::RegisterFunction(
                    FunctionDef::new(ImageId::from_bits(n), m, n).with_warm_start_us(n),
                ),
                Command::RegisterFunction(
                    FunctionDef::new(ImageId::from_bits(n), m, n)
                        .with_concurrency(u32::try_from(n).unwrap_or(u32::MAX)),
                ),
                Command::RegisterFunction(
                    FunctionDef::new(ImageId::from_bits(n), m, n)
                        .with_min_scale(u32::try_from(m).unwrap_or(u32::MAX)),
                ),
                Command::RegisterFunction(
                    FunctionDef::new(ImageId::from_bits(m), n, m)
                        .with_cpu_millis(u32::try_from(m).unwrap_or(u32::MAX)),
                ),
                Command::Invoke {
                    function: FunctionId::from_bits(n),
                    code: Code {
                        clone_us: m,
                        build_us: n,
                        run_us: m,
                        outcome,
                    },
                    ingress_bytes: n,
                    egress_bytes: m,
                },
                Command::Advance,
                Command::Reap {
                    invocation: InvocationId::from_bits(m),
                },
                Command::HostDown { host },
                Command::HostUp {
                    host,
                    disk_kept: i % 2 == 1,
                },
                Command::DownloadFails {
                    image: ImageId::from_bits(n),
                },
                Command::CopyFails {
                    host,
                    image: ImageId::from_bits(m),
                },
                Command::MainStorageLost,
            ] {
                inputs.push(Input { at_us: m, command });
            }
        }
        inputs
    }

    #[test]
    fn the_wire_reader_reads_every_command_as_the_serde_path_does() {
        for input in sample_inputs() {
            let bytes = encode(&input).unwrap();
            assert_eq!(wire::input(&bytes), Some(input.clone()), "{bytes:?}");
            assert_eq!(decode_input(&bytes), Ok(input));
        }
    }

    /// The same for the layout of formats 2 to 8, from the frozen types.
    #[test]
    fn the_wire_reader_reads_format_8_inputs_as_the_frozen_types_do() {
        use crate::log::inputs_old::InputV8;
        let mut registrations = 0;
        for input in sample_inputs() {
            let Ok(v8) = InputV8::try_from(&input) else {
                continue;
            };
            let bytes = encode(&v8).unwrap();
            assert_eq!(wire::input_v8(&bytes), Some(input.clone()), "{bytes:?}");
            assert_eq!(decode_input_v8(&bytes), Ok(input.clone()));
            if matches!(input.command, Command::RegisterFunction(_)) {
                registrations += 1;
                // Without its two bytes of absent costs, its byte of
                // concurrency 1, its byte of min_scale 0 and its three of a CPU
                // demand of 1,000, it is not this build's layout.
                assert_eq!(wire::input(&bytes), None);
                assert!(decode_input(&bytes).is_err());
                let current = encode(&input).unwrap();
                assert_eq!(current.len(), bytes.len() + 7);
                assert_eq!(wire::input_v8(&current), None);
                assert!(decode_input_v8(&current).is_err());
            }
        }
        assert_eq!(registrations, 9);
    }

    /// The same for format 11's layout: every sample that layout can hold
    /// reads back, by the wire reader and the frozen types alike, as itself.
    #[test]
    fn the_wire_reader_reads_format_11_inputs_as_the_frozen_types_do() {
        use crate::log::inputs_old::InputV11;
        let mut registrations = 0;
        for input in sample_inputs() {
            let Ok(v11) = InputV11::try_from(&input) else {
                continue;
            };
            let bytes = encode(&v11).unwrap();
            assert_eq!(wire::input_v11(&bytes), Some(input.clone()), "{bytes:?}");
            assert_eq!(decode_input_v11(&bytes), Ok(input.clone()));
            if matches!(input.command, Command::RegisterFunction(_)) {
                registrations += 1;
            }
        }
        // Every sample registration but those of a CPU demand other than
        // 1,000 or with a warm floor (format 12's fields), which are refused
        // above and count out.
        assert_eq!(registrations, 33);
    }

    #[test]
    fn the_wire_reader_takes_nothing_the_serde_path_refuses() {
        // Every truncation and every one-byte change of every sample: the
        // fast reader may refuse more (the serde path then decides), but
        // what it takes, the serde path takes as the same value.
        let mut taken = 0;
        for input in sample_inputs() {
            let bytes = encode(&input).unwrap();
            let mut variants: Vec<Vec<u8>> =
                (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
            for i in 0..bytes.len() {
                for value in [0u8, 1, 2, 9, 10, 250, 251, 252, 253, 254, 255] {
                    let mut changed = bytes.clone();
                    changed[i] = value;
                    variants.push(changed);
                }
            }
            let mut longer = bytes.clone();
            longer.push(0);
            variants.push(longer);
            for candidate in variants {
                if let Some(fast) = wire::input(&candidate) {
                    taken += 1;
                    assert_eq!(decode::<Input>(&candidate), Ok(fast), "{candidate:?}");
                }
                if let Some(fast) = wire::input_v8(&candidate) {
                    taken += 1;
                    let serde = decode::<crate::log::inputs_old::InputV8>(&candidate);
                    assert_eq!(serde.map(Input::from), Ok(fast), "{candidate:?}");
                }
            }
        }
        assert!(taken > 1000, "the check saw only {taken} accepted variants");
    }

    /// bincode's errors come out in words, not its Debug text (its
    /// `Display` is its `Debug`: `UnexpectedEnd { additional: 1 }`).
    #[test]
    fn decode_errors_are_in_words() {
        let message = |bytes: &[u8]| decode_input(bytes).unwrap_err().message;
        // An input cut inside its command.
        assert_eq!(message(&[5]), "the record ends inside a value");
        // A command number no command has (serde's words, passed on).
        assert_eq!(
            message(&[5, 77]),
            "invalid value: integer `77`, expected variant index 0 <= i < 10"
        );
        // A boolean that is neither 0 nor 1 (HostUp's disk_kept).
        let host_up = encode(&Input {
            at_us: 5,
            command: Command::HostUp {
                host: crate::HostId(1),
                disk_kept: true,
            },
        })
        .unwrap();
        let mut bad = host_up.clone();
        *bad.last_mut().unwrap() = 7;
        assert_eq!(message(&bad), "a boolean of value 7 (not 0 or 1)");
        // A string's length beyond the record.
        let mut bytes = vec![253];
        bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert_eq!(
            decode::<String>(&bytes).unwrap_err().message,
            "a length claims more bytes than the record holds"
        );
        for bytes in [&[5u8][..], &[5, 77], &bad] {
            let text = message(bytes);
            assert!(!text.contains('{') && !text.contains("Error"), "{text}");
        }
    }

    #[test]
    fn a_non_canonical_varint_is_refused_with_the_serde_paths_reason() {
        // at_us = 5 written as a u16 varint, then `Advance`.
        let error = decode_input(&[251, 5, 0, 3]).unwrap_err();
        assert!(error.message.contains("canonical"), "{error}");
        assert_eq!(
            decode_input(&[5, 3]),
            Ok(Input {
                at_us: 5,
                command: Command::Advance
            })
        );
    }
}

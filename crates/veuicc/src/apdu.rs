//! The eUICC as a card reader sees it: ISO 7816-4 APDUs on logical channels, the ISD-R
//! selected by AID, ES10 functions carried in STORE DATA (GlobalPlatform Card Spec 11.11,
//! SGP.22 5.7: `80 E2`, P1 `11` more blocks / `91` last block, P2 the block number from 0),
//! responses returned with `61xx` and fetched with GET RESPONSE (`C0`), as lpac expects
//! (`../shared/interop/lpac.md` §3.1).
//!
//! Strict, like a card: a wrong class, instruction, P1/P2, length or block order is refused
//! with its status word and changes nothing; nothing panics on any byte string.

use std::borrow::BorrowMut;
use std::time::SystemTime;

use rand_core::CryptoRng;

use crate::es10::sw;
use crate::euicc::Euicc;

/// The ISD-R's AID (SGP.22 2.2.3), what lpac opens a channel to.
pub const ISD_R_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00,
];
/// Channels 0–3 (first interindustry CLA coding; enough for an LPA).
const CHANNELS: usize = 4;
/// Largest ES10 command reassembled from STORE DATA blocks (one BPP segment is far less; the
/// whole BPP is assembled at the ES10 level).
const MAX_COMMAND: usize = 128 * 1024;

#[derive(Debug, Default)]
struct Channel {
    /// ISD-R selected on it.
    selected: bool,
    /// STORE DATA blocks of the command being received, and the next block number.
    command: Vec<u8>,
    next_block: u8,
    /// Response bytes not fetched yet (GET RESPONSE).
    pending: Vec<u8>,
}

/// A virtual eUICC behind an ISO 7816-4 interface: owning the eUICC (`E = Euicc`) or
/// borrowing it (`&mut Euicc`), so a caller can put its own card behind APDUs for a while.
pub struct Card<R, E = Euicc> {
    pub euicc: E,
    rng: R,
    channels: [Option<Channel>; CHANNELS],
    /// Time for certificate checks; `None` is the system clock.
    time: Option<SystemTime>,
}

fn sw_only(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

impl<R: CryptoRng, E: BorrowMut<Euicc>> Card<R, E> {
    /// A card just powered on: the basic channel open, nothing selected.
    pub fn new(euicc: E, rng: R) -> Self {
        Self {
            euicc,
            rng,
            channels: [Some(Channel::default()), None, None, None],
            time: None,
        }
    }

    /// Fixes the time the card checks certificates at (tests with a manual clock).
    pub fn set_time(&mut self, t: Option<SystemTime>) {
        self.time = t;
    }

    /// A power cycle: channels closed, selections and partial commands dropped, any RSP
    /// session ended.
    pub fn reset(&mut self) {
        self.channels = [Some(Channel::default()), None, None, None];
        let e = self.euicc.borrow_mut();
        e.session = None;
        e.bpp = None;
    }

    /// MANAGE CHANNEL open then SELECT of the ISD-R on it, as a driver that owns the channel
    /// logic does (lpac's stdio `logic_channel_open`): the channel number, or `None` when
    /// every channel is in use.
    pub fn open_logical_channel(&mut self, aid: &[u8]) -> Result<u8, u16> {
        if aid != ISD_R_AID {
            return Err(sw::FILE_NOT_FOUND);
        }
        let free = (1..CHANNELS)
            .find(|&c| self.channels[c].is_none())
            .ok_or(sw::LOGICAL_CHANNEL_NOT_SUPPORTED)?;
        self.channels[free] = Some(Channel {
            selected: true,
            ..Channel::default()
        });
        Ok(free as u8)
    }

    /// MANAGE CHANNEL close; the basic channel cannot be closed.
    pub fn close_logical_channel(&mut self, channel: u8) -> Result<(), u16> {
        match usize::from(channel) {
            c @ 1..CHANNELS if self.channels[c].is_some() => {
                self.channels[c] = None;
                Ok(())
            }
            _ => Err(sw::WRONG_P1_P2),
        }
    }

    /// One C-APDU (`CLA INS P1 P2 [Lc data] [Le]`) in, the R-APDU (data ‖ SW1 SW2) out.
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        match self.command(apdu) {
            Ok(r) => r,
            Err(code) => sw_only(code),
        }
    }

    fn command(&mut self, apdu: &[u8]) -> Result<Vec<u8>, u16> {
        if apdu.len() < 4 {
            return Err(sw::WRONG_LENGTH);
        }
        let (cla, ins, p1, p2) = (apdu[0], apdu[1], apdu[2], apdu[3]);
        // First interindustry (0x0X) or proprietary GlobalPlatform (0x8X) class, channels 0-3;
        // secure messaging bits are not supported.
        if cla & 0x70 != 0 || cla & 0x0C != 0 {
            return Err(sw::CLA_NOT_SUPPORTED);
        }
        let channel = usize::from(cla & 0x03);
        let body = &apdu[4..];
        // Case 1 (no body), case 2 (Le only), case 3 (Lc data), case 4 (Lc data Le); short
        // APDUs only.
        let (data, le): (&[u8], Option<usize>) = match body.len() {
            0 => (&[], None),
            1 => (&[], Some(if body[0] == 0 { 256 } else { body[0].into() })),
            n => {
                let lc = usize::from(body[0]);
                if lc == 0 || n < 1 + lc || n > 2 + lc {
                    return Err(sw::WRONG_LENGTH);
                }
                let le = (n == 2 + lc).then(|| match body[1 + lc] {
                    0 => 256,
                    x => usize::from(x),
                });
                (&body[1..1 + lc], le)
            }
        };
        let proprietary = cla & 0x80 != 0;
        match (proprietary, ins) {
            (false, 0x70) => self.manage_channel(channel, p1, p2, data, le),
            (false, 0xA4) => self.select(channel, p1, p2, data),
            (_, 0xC0) => self.get_response(channel, p1, p2, le),
            (true, 0xE2) => self.store_data(channel, p1, p2, data),
            (false, 0xE2) => Err(sw::CLA_NOT_SUPPORTED),
            _ => Err(sw::INS_NOT_SUPPORTED),
        }
    }

    fn channel(&mut self, c: usize) -> Result<&mut Channel, u16> {
        self.channels[c]
            .as_mut()
            .ok_or(sw::LOGICAL_CHANNEL_NOT_SUPPORTED)
    }

    fn manage_channel(
        &mut self,
        c: usize,
        p1: u8,
        p2: u8,
        data: &[u8],
        le: Option<usize>,
    ) -> Result<Vec<u8>, u16> {
        self.channel(c)?;
        match (p1, p2) {
            // Open, the card assigns the number: one byte of response.
            (0x00, 0x00) if data.is_empty() && le == Some(1) => {
                let free = (1..CHANNELS)
                    .find(|&x| self.channels[x].is_none())
                    .ok_or(sw::LOGICAL_CHANNEL_NOT_SUPPORTED)?;
                self.channels[free] = Some(Channel::default());
                Ok(vec![free as u8, 0x90, 0x00])
            }
            (0x80, n) if data.is_empty() => {
                self.close_logical_channel(n)?;
                Ok(sw_only(sw::OK))
            }
            _ => Err(sw::WRONG_P1_P2),
        }
    }

    fn select(&mut self, c: usize, p1: u8, p2: u8, aid: &[u8]) -> Result<Vec<u8>, u16> {
        // By DF name (P1 04), first or only occurrence, FCI or no response data.
        if p1 != 0x04 || !matches!(p2, 0x00 | 0x0C) {
            return Err(sw::WRONG_P1_P2);
        }
        let ch = self.channel(c)?;
        if aid != ISD_R_AID {
            return Err(sw::FILE_NOT_FOUND);
        }
        *ch = Channel {
            selected: true,
            ..Channel::default()
        };
        Ok(sw_only(sw::OK))
    }

    fn get_response(
        &mut self,
        c: usize,
        p1: u8,
        p2: u8,
        le: Option<usize>,
    ) -> Result<Vec<u8>, u16> {
        if p1 != 0 || p2 != 0 {
            return Err(sw::WRONG_P1_P2);
        }
        let ch = self.channel(c)?;
        if ch.pending.is_empty() {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        let n = le.unwrap_or(256).min(ch.pending.len());
        let mut out: Vec<u8> = ch.pending.drain(..n).collect();
        out.extend(more(ch.pending.len()));
        Ok(out)
    }

    fn store_data(&mut self, c: usize, p1: u8, p2: u8, data: &[u8]) -> Result<Vec<u8>, u16> {
        let ch = self.channel(c)?;
        if !ch.selected {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        // BER-TLV data (b5) with more blocks (b8 clear) or the last block (b8 set).
        let last = match p1 {
            0x11 => false,
            0x91 => true,
            _ => return Err(sw::WRONG_P1_P2),
        };
        if data.is_empty() {
            return Err(sw::WRONG_LENGTH);
        }
        // A block 0 starts a new command (dropping any unfinished one, and any response not
        // fetched); any other block must be the next.
        if p2 == 0 {
            ch.command.clear();
            ch.pending.clear();
        } else if p2 != ch.next_block || ch.command.is_empty() {
            ch.command.clear();
            ch.next_block = 0;
            return Err(sw::WRONG_P1_P2);
        }
        if ch.command.len() + data.len() > MAX_COMMAND {
            ch.command.clear();
            ch.next_block = 0;
            return Err(sw::NOT_ENOUGH_MEMORY);
        }
        ch.command.extend_from_slice(data);
        ch.next_block = p2.wrapping_add(1);
        if !last {
            return Ok(sw_only(sw::OK));
        }
        let command = std::mem::take(&mut ch.command);
        ch.next_block = 0;
        let now = self.time.unwrap_or_else(SystemTime::now);
        let response = self.euicc.borrow_mut().es10(&command, &mut self.rng, now)?;
        let ch = self.channel(c)?;
        if response.is_empty() {
            return Ok(sw_only(sw::OK));
        }
        ch.pending = response;
        Ok(more(ch.pending.len()))
    }
}

/// `61 xx`: this many bytes wait for GET RESPONSE (`00` = 256 or more), or `90 00`.
fn more(remaining: usize) -> Vec<u8> {
    match remaining {
        0 => sw_only(sw::OK),
        n if n >= 256 => vec![0x61, 0x00],
        n => vec![0x61, n as u8],
    }
}

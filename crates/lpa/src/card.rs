//! ES10 to a card over APDUs, framed as lpac frames them (`../shared/interop/lpac.md` §3):
//! the ISD-R opened on a logical channel, each ES10 request TLV in STORE DATA blocks of the
//! segment size (P1 `11` more / `91` last, P2 from 0), GET RESPONSE while the card answers
//! `61xx`, the BPP sent as BF36+BF23 / A0 / A1 header / each 88 / A2 / A3 header / each 86.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use rand_core::CryptoRng;
use rsp_asn1::auth::{
    AuthenticateServerRequest, AuthenticateServerResponse, EUICCInfo1, EUICCInfo2,
};
use rsp_asn1::download::{PrepareDownloadRequest, PrepareDownloadResponse};
use rsp_asn1::es10::{
    DeleteProfileRequest, DisableProfileRequest, EnableProfileRequest,
    EuiccConfiguredAddressesResponse, ProfileIdentifier, ProfileInfo, ProfileInfoListResponse,
    ProfileOperationResult,
};
use rsp_asn1::ids::Eid;
use rsp_asn1::notification::{
    CancelSessionReason, CancelSessionRequest, CancelSessionResponse, DeleteNotificationStatus,
    ListNotificationResponse, NotificationMetadata, NotificationSentResponse, PendingNotification,
    ProfileInstallationResult, RetrieveNotificationsListResponse,
};
use rsp_asn1::tlv::Tlv;
use rsp_asn1::TransactionId;
use serde_json::{json, Value};
use veuicc::apdu::{Card, ISD_R_AID};
use veuicc::state::StateFile;

use crate::Error;

/// Something that carries APDUs to a card.
pub trait Transport {
    /// Opens a logical channel with the ISD-R selected on it.
    fn open_channel(&mut self, aid: &[u8]) -> Result<u8, Error>;
    /// One C-APDU, its R-APDU (data ‖ SW).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error>;
    fn close_channel(&mut self, channel: u8) -> Result<(), Error>;
    /// A simulated card's EID and otSK.EUICC of the session waiting for its BPP, for
    /// recordings; a real card (or one behind a socket) has none to give.
    fn session_secret(&self) -> Option<(Eid, [u8; 32])> {
        None
    }
}

/// The virtual eUICC in this process (owned, or borrowed with `E = &mut Euicc`), optionally
/// saved to its state file after each command.
pub struct VirtualCard<R, E = veuicc::Euicc> {
    pub card: Card<R, E>,
    pub state: Option<StateFile>,
}

impl<R: CryptoRng, E: std::borrow::BorrowMut<veuicc::Euicc>> Transport for VirtualCard<R, E> {
    fn open_channel(&mut self, aid: &[u8]) -> Result<u8, Error> {
        self.card.open_logical_channel(aid).map_err(|sw| Error::Sw {
            function: "open logical channel",
            sw,
        })
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        let r = self.card.transmit(apdu);
        if let Some(s) = self.state.as_mut() {
            if apdu.get(1) == Some(&0xE2) && r.first() == Some(&0x61) {
                s.save(self.card.euicc.borrow())?;
            }
        }
        Ok(r)
    }

    fn session_secret(&self) -> Option<(Eid, [u8; 32])> {
        let e = self.card.euicc.borrow();
        Some((e.eid(), e.session_otsk()?))
    }

    fn close_channel(&mut self, channel: u8) -> Result<(), Error> {
        if let Some(s) = self.state.as_mut() {
            s.save(self.card.euicc.borrow())?;
        }
        self.card
            .close_logical_channel(channel)
            .map_err(|sw| Error::Sw {
                function: "close logical channel",
                sw,
            })
    }
}

/// A card behind `veuicc tcp`: lpac's stdio driver protocol over a socket.
pub struct TcpCard {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl TcpCard {
    pub fn connect(addr: &str) -> Result<Self, Error> {
        let s = TcpStream::connect(addr)
            .map_err(|e| Error::transport("card", format!("{addr}: {e}")))?;
        let mut c = Self {
            reader: BufReader::new(s.try_clone().map_err(|e| Error::transport("card", e))?),
            writer: s,
        };
        c.call("connect", Value::Null)?;
        Ok(c)
    }

    fn call(&mut self, func: &str, param: Value) -> Result<Value, Error> {
        let line = json!({"type": "apdu", "payload": {"func": func, "param": param}});
        writeln!(self.writer, "{line}").map_err(|e| Error::transport("card", e))?;
        let mut reply = String::new();
        self.reader
            .read_line(&mut reply)
            .map_err(|e| Error::transport("card", e))?;
        let v: Value = serde_json::from_str(&reply)
            .map_err(|e| Error::transport("card", format!("reply {reply:?}: {e}")))?;
        match v["payload"]["ecode"].as_i64() {
            Some(n) if n >= 0 => Ok(v["payload"].clone()),
            _ => Err(Error::transport("card", format!("{func}: {reply}"))),
        }
    }
}

impl Transport for TcpCard {
    fn open_channel(&mut self, aid: &[u8]) -> Result<u8, Error> {
        let p = self.call("logic_channel_open", hex::encode(aid).into())?;
        Ok(p["ecode"].as_i64().unwrap_or(0) as u8)
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        let p = self.call("transmit", hex::encode(apdu).into())?;
        let r = p["data"]
            .as_str()
            .and_then(|d| hex::decode(d).ok())
            .filter(|d| d.len() >= 2)
            .ok_or_else(|| Error::transport("card", format!("transmit reply {p}")))?;
        Ok(r)
    }

    fn close_channel(&mut self, channel: u8) -> Result<(), Error> {
        self.call("logic_channel_close", hex::encode([channel]).into())?;
        self.call("disconnect", Value::Null).map(|_| ())
    }
}

impl Drop for TcpCard {
    fn drop(&mut self) {
        let _ = writeln!(
            self.writer,
            "{}",
            json!({"type": "apdu", "payload": {"func": "disconnect", "param": null}})
        );
    }
}

/// The ISD-R on a logical channel: ES10 functions.
pub struct Es10<T: Transport> {
    pub transport: T,
    channel: u8,
    /// STORE DATA segment size (lpac's default 120; 6..=255).
    pub mss: usize,
    /// Where every command goes, when recording ([`Self::record`]).
    log: Option<crate::record::Recording>,
    /// The device the LPA runs on, as ctxParams1 describes it (default: a current phone).
    pub device_info: rsp_asn1::auth::DeviceInfo,
}

fn decode<T: rsp_asn1::rasn::Decode + rsp_asn1::rasn::Encode>(
    function: &'static str,
    der: &[u8],
) -> Result<T, Error> {
    rsp_asn1::decode(der).map_err(|e| Error::Refused {
        function,
        detail: format!("undecodable answer: {e}"),
    })
}

impl<T: Transport> Es10<T> {
    /// Opens the ISD-R (lpac's default AID).
    pub fn open(mut transport: T) -> Result<Self, Error> {
        let channel = transport.open_channel(&ISD_R_AID)?;
        Ok(Self {
            transport,
            channel,
            mss: 120,
            log: None,
            device_info: veuicc::lpa::default_device_info(),
        })
    }

    /// Keeps every command from now on, with its answer and APDUs, in `r`.
    pub fn record(&mut self, r: crate::record::Recording) {
        self.log = Some(r);
    }

    /// Closes the channel (the card saves its state).
    pub fn close(mut self) -> Result<T, Error> {
        self.transport.close_channel(self.channel)?;
        Ok(self.transport)
    }

    /// One ES10 request TLV, its response (empty for a BPP segment that needs more).
    pub fn command(&mut self, function: &'static str, der: &[u8]) -> Result<Vec<u8>, Error> {
        let cla = 0x80 | (self.channel & 0x03);
        let mss = self.mss.clamp(6, 255);
        // The BPP's first command: the card holds otSK.EUICC now, and only until the BPP
        // is loaded.
        if let (Some(log), Some((eid, otsk))) = (&self.log, self.transport.session_secret()) {
            if der.starts_with(&[0xBF, 0x36]) {
                log.push(crate::record::Event::EuiccSecret { eid, otsk });
            }
        }
        let blocks: Vec<&[u8]> = der.chunks(mss).collect();
        let mut out = Vec::new();
        let mut apdus = Vec::new();
        let recording = self.log.is_some();
        let mut send = |t: &mut T, apdu: Vec<u8>| -> Result<Vec<u8>, Error> {
            let r = t.transmit(&apdu)?;
            if r.len() < 2 {
                return Err(Error::Input(format!(
                    "{function}: an R-APDU of {} bytes, without SW",
                    r.len()
                )));
            }
            if recording {
                apdus.push((apdu, r.clone()));
            }
            Ok(r)
        };
        for (i, b) in blocks.iter().enumerate() {
            let p1 = if i + 1 == blocks.len() { 0x91 } else { 0x11 };
            let mut apdu = vec![cla, 0xE2, p1, i as u8, b.len() as u8];
            apdu.extend_from_slice(b);
            let mut r = send(&mut self.transport, apdu)?;
            loop {
                let sw = u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]]);
                out.extend_from_slice(&r[..r.len() - 2]);
                match sw >> 8 {
                    0x61 => r = send(&mut self.transport, vec![cla, 0xC0, 0x00, 0x00, sw as u8])?,
                    x if x & 0xF0 == 0x90 => break,
                    _ => return Err(Error::Sw { function, sw }),
                }
            }
        }
        if let Some(log) = &self.log {
            log.push(crate::record::Event::Es10(crate::record::Es10Record {
                function,
                command: der.to_vec(),
                response: out.clone(),
                apdus,
            }));
        }
        Ok(out)
    }

    pub fn eid(&mut self) -> Result<Eid, Error> {
        let r = self.command("GetEID", &[0xBF, 0x3E, 0x03, 0x5C, 0x01, 0x5A])?;
        let v: rsp_asn1::es10::GetEuiccDataResponse = decode("GetEID", &r)?;
        Ok(Eid::from_bytes(v.eid_value.as_bytes())?)
    }

    pub fn challenge(&mut self) -> Result<[u8; 16], Error> {
        let r = self.command("GetEuiccChallenge", &[0xBF, 0x2E, 0x00])?;
        let v: rsp_asn1::es10::GetEuiccChallengeResponse = decode("GetEuiccChallenge", &r)?;
        v.euicc_challenge
            .as_bytes()
            .try_into()
            .map_err(|_| Error::Input("euiccChallenge is not 16 bytes".into()))
    }

    pub fn info1(&mut self) -> Result<EUICCInfo1, Error> {
        let r = self.command("GetEUICCInfo1", &[0xBF, 0x20, 0x00])?;
        decode("GetEUICCInfo1", &r)
    }

    pub fn info2(&mut self) -> Result<EUICCInfo2, Error> {
        let r = self.command("GetEUICCInfo2", &[0xBF, 0x22, 0x00])?;
        decode("GetEUICCInfo2", &r)
    }

    pub fn configured_addresses(&mut self) -> Result<EuiccConfiguredAddressesResponse, Error> {
        let r = self.command("GetEuiccConfiguredAddresses", &[0xBF, 0x3C, 0x00])?;
        decode("GetEuiccConfiguredAddresses", &r)
    }

    pub fn authenticate_server(
        &mut self,
        req: &AuthenticateServerRequest,
    ) -> Result<AuthenticateServerResponse, Error> {
        let r = self.command("AuthenticateServer", &rsp_asn1::encode(req)?)?;
        decode("AuthenticateServer", &r)
    }

    pub fn prepare_download(
        &mut self,
        req: &PrepareDownloadRequest,
    ) -> Result<PrepareDownloadResponse, Error> {
        let r = self.command("PrepareDownload", &rsp_asn1::encode(req)?)?;
        decode("PrepareDownload", &r)
    }

    /// LoadBoundProfilePackage as lpac segments it (SGP.22 2.5.5); the card's
    /// ProfileInstallationResult.
    pub fn load_bpp(&mut self, bpp: &[u8]) -> Result<ProfileInstallationResult, Error> {
        const F: &str = "LoadBoundProfilePackage";
        let bad = |e: rsp_asn1::tlv::TlvError| Error::Input(format!("BPP: {e}"));
        let (outer, _) = Tlv::read(bpp, 0).map_err(bad)?;
        if outer.tag != [0xBF, 0x36] {
            return Err(Error::Input("BPP: not a BF36 TLV".into()));
        }
        let mut commands: Vec<&[u8]> = Vec::new();
        let header = outer.raw.len() - outer.value.len();
        let mut rest = outer.value;
        let mut first_end = None;
        while !rest.is_empty() {
            let (t, r) = Tlv::read(rest, 0).map_err(bad)?;
            let start = bpp.len() - rest.len();
            rest = r;
            let h = t.raw.len() - t.value.len();
            match t.tag {
                [0xBF, 0x23] => first_end = Some(start + t.raw.len()),
                [0xA0] | [0xA2] => commands.push(t.raw),
                [0xA1] | [0xA3] => {
                    commands.push(&t.raw[..h]);
                    let mut inner = t.value;
                    while !inner.is_empty() {
                        let (c, r) = Tlv::read(inner, 0).map_err(bad)?;
                        commands.push(c.raw);
                        inner = r;
                    }
                }
                other => {
                    return Err(Error::Input(format!(
                        "BPP: unexpected part {}",
                        hex::encode_upper(other)
                    )))
                }
            }
        }
        let first_end = first_end.ok_or_else(|| Error::Input("BPP: no BF23".into()))?;
        let _ = header;
        commands.insert(0, &bpp[..first_end]);
        let mut last = Vec::new();
        for c in commands {
            last = self.command(F, c)?;
            // A BF37 before the end is the card stopping on an error.
            if !last.is_empty() {
                break;
            }
        }
        if last.is_empty() {
            return Err(Error::Refused {
                function: F,
                detail: "no ProfileInstallationResult after the last segment".into(),
            });
        }
        decode(F, &last)
    }

    pub fn cancel_session(
        &mut self,
        transaction_id: &TransactionId,
        reason: CancelSessionReason,
    ) -> Result<CancelSessionResponse, Error> {
        let req = CancelSessionRequest {
            transaction_id: transaction_id.clone(),
            reason,
            extensions: None,
        };
        let r = self.command("CancelSession", &rsp_asn1::encode(&req)?)?;
        decode("CancelSession", &r)
    }

    pub fn list_notifications(&mut self) -> Result<Vec<NotificationMetadata>, Error> {
        let r = self.command("ListNotification", &[0xBF, 0x28, 0x00])?;
        match decode("ListNotification", &r)? {
            ListNotificationResponse::NotificationMetadataList(l) => Ok(l),
            ListNotificationResponse::ListNotificationsResultError(e) => Err(Error::Refused {
                function: "ListNotification",
                detail: format!("{e:?}"),
            }),
        }
    }

    /// RetrieveNotificationsList by seqNumber: the notification, if the card has it.
    pub fn retrieve_notification(
        &mut self,
        seq: i64,
    ) -> Result<Option<PendingNotification>, Error> {
        let req = rsp_asn1::notification::RetrieveNotificationsListRequest {
            search_criteria: Some(rsp_asn1::notification::RetrieveSearchCriteria::SeqNumber(
                seq,
            )),
            extensions: None,
        };
        let r = self.command("RetrieveNotificationsList", &rsp_asn1::encode(&req)?)?;
        Ok(match decode("RetrieveNotificationsList", &r)? {
            RetrieveNotificationsListResponse::NotificationList(l) => l.into_iter().next(),
            RetrieveNotificationsListResponse::NotificationsListResultError(_) => None,
        })
    }

    pub fn remove_notification(&mut self, seq: i64) -> Result<DeleteNotificationStatus, Error> {
        let req = rsp_asn1::notification::NotificationSentRequest {
            seq_number: seq,
            extensions: None,
        };
        let r = self.command("RemoveNotificationFromList", &rsp_asn1::encode(&req)?)?;
        let v: NotificationSentResponse = decode("RemoveNotificationFromList", &r)?;
        Ok(v.delete_notification_status)
    }

    pub fn profiles(&mut self) -> Result<Vec<ProfileInfo>, Error> {
        let r = self.command("ProfileInfoList", &[0xBF, 0x2D, 0x00])?;
        match decode("ProfileInfoList", &r)? {
            ProfileInfoListResponse::ProfileInfoListOk(l) => Ok(l),
            ProfileInfoListResponse::ProfileInfoListError(e) => Err(Error::Refused {
                function: "ProfileInfoList",
                detail: format!("{e:?}"),
            }),
        }
    }

    fn operation(
        &mut self,
        function: &'static str,
        der: Vec<u8>,
        result: impl Fn(&[u8]) -> Result<ProfileOperationResult, Error>,
    ) -> Result<(), Error> {
        let r = self.command(function, &der)?;
        match result(&r)? {
            ProfileOperationResult::ok => Ok(()),
            other => Err(Error::Refused {
                function,
                detail: format!("{other:?}"),
            }),
        }
    }

    pub fn enable(&mut self, id: ProfileIdentifier) -> Result<(), Error> {
        let der = rsp_asn1::encode(&EnableProfileRequest {
            profile_identifier: id,
            refresh_flag: true,
            extensions: None,
        })?;
        self.operation("EnableProfile", der, |r| {
            Ok(decode::<rsp_asn1::es10::EnableProfileResponse>("EnableProfile", r)?.enable_result)
        })
    }

    pub fn disable(&mut self, id: ProfileIdentifier) -> Result<(), Error> {
        let der = rsp_asn1::encode(&DisableProfileRequest {
            profile_identifier: id,
            refresh_flag: true,
            extensions: None,
        })?;
        self.operation("DisableProfile", der, |r| {
            Ok(
                decode::<rsp_asn1::es10::DisableProfileResponse>("DisableProfile", r)?
                    .disable_result,
            )
        })
    }

    pub fn delete(&mut self, id: ProfileIdentifier) -> Result<(), Error> {
        let der = rsp_asn1::encode(&DeleteProfileRequest(id))?;
        self.operation("DeleteProfile", der, |r| {
            Ok(decode::<rsp_asn1::es10::DeleteProfileResponse>("DeleteProfile", r)?.delete_result)
        })
    }
}

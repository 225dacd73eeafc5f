//! Pending notifications (SGP.22 3.5; lpac's `notification process`): each is retrieved from
//! the card by seqNumber, sent to its notificationAddress with ES9+ handleNotification, and
//! removed from the card once the SM-DP+ took it (when asked).

use rsp_asn1::notification::{NotificationMetadata, PendingNotification};

use crate::card::{Es10, Transport};
use crate::es9::Client;
use crate::Error;

/// What happened to one notification.
#[derive(Debug, Clone)]
pub struct Sent {
    pub seq_number: i64,
    pub operation: String,
    pub address: String,
    pub iccid: Option<String>,
    /// Delivered (and removed, when asked); or why not.
    pub outcome: Result<(), String>,
}

/// The operation a NotificationMetadata names.
pub fn operation(m: &NotificationMetadata) -> String {
    rsp_asn1::bits::notification_event::names(&m.profile_management_operation)
}

/// Sends every pending notification; a failure of one does not stop the others.
pub async fn process<T: Transport>(
    card: &mut Es10<T>,
    es9: &Client,
    remove: bool,
) -> Result<Vec<Sent>, Error> {
    let mut out = Vec::new();
    for m in card.list_notifications()? {
        let address: String = m.notification_address.split_whitespace().collect();
        let outcome = match card.retrieve_notification(m.seq_number)? {
            None => Err("the card no longer has it".to_string()),
            Some(n) => send(card, es9, &address, &n, m.seq_number, remove).await,
        };
        out.push(Sent {
            seq_number: m.seq_number,
            operation: operation(&m),
            address,
            iccid: m.iccid.as_ref().and_then(|i| i.digits().ok()),
            outcome,
        });
    }
    Ok(out)
}

async fn send<T: Transport>(
    card: &mut Es10<T>,
    es9: &Client,
    address: &str,
    n: &PendingNotification,
    seq: i64,
    remove: bool,
) -> Result<(), String> {
    let req = veuicc::lpa::handle_notification_request(n).map_err(|e| e.to_string())?;
    es9.notify(address, &req).await.map_err(|e| e.to_string())?;
    if remove {
        card.remove_notification(seq).map_err(|e| e.to_string())?;
    }
    Ok(())
}

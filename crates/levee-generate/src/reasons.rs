//! SMTP replies by bounce class, as receiving servers word them.
//!
//! `{rcpt}`, `{ip}` and `{domain}` stand for the recipient's address, the
//! sending IP and the recipient's domain. In `reason` the address and the IP
//! are redacted; `raw_reason` has them.

/// A reply text; `domain` is the only recipient domain that says it, or ""
/// for any.
pub(super) struct Reason {
    pub(super) domain: &'static str,
    pub(super) text: &'static str,
}

const fn any(text: &'static str) -> Reason {
    Reason { domain: "", text }
}

const fn at(domain: &'static str, text: &'static str) -> Reason {
    Reason { domain, text }
}

/// A bounce class with its share of bounces (per mille) and its replies.
pub(super) struct Class {
    pub(super) code: u16,
    pub(super) weight: u32,
    pub(super) reasons: &'static [Reason],
}

/// The DNS failure class, and the reply that dominates the demo's spike.
pub(super) const DNS_FAILURE: u16 = 21;
pub(super) const SPIKE_REASON: &str = "454 4.4.4 [internal] no MX or A for domain";

/// Every bounce class; invalid recipients, DNS failures, soft bounces and
/// blocks make most bounces.
pub(super) const CLASSES: &[Class] = &[
    Class {
        code: 10,
        weight: 330,
        reasons: &[
            at(
                "gmail.com",
                "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.",
            ),
            at(
                "gmail.com",
                "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. Learn more at 550 5.1.1 https://support.google.com/mail/?p=NoSuchUser - gsmtp",
            ),
            at(
                "yahoo.com",
                "554 delivery error: dd This user doesn't have a yahoo.com account ({rcpt}) [0] - mta1047.mail.gq1.yahoo.com",
            ),
            at(
                "hotmail.com",
                "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [DM3NAM03FT044.eop-NAM03.prod.protection.outlook.com]",
            ),
            at(
                "outlook.com",
                "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [BN3NAM04FT014.eop-NAM04.prod.protection.outlook.com]",
            ),
            at(
                "aol.com",
                "552 1 Requested mail action aborted, mailbox not found",
            ),
            at("icloud.com", "550 5.1.1 <{rcpt}>: user does not exist"),
            at("comcast.net", "550 5.1.1 <{rcpt}> Not our Customer"),
            any(
                "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
            ),
            any(
                "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table",
            ),
            any("550 5.1.1 RESOLVER.ADR.RecipNotFound; not found"),
            any("550 5.1.1 User unknown"),
            any("553 5.3.0 <{rcpt}>... No such user here"),
            any("550 No Such User Here"),
        ],
    },
    Class {
        code: 20,
        weight: 120,
        reasons: &[
            at(
                "gmail.com",
                "450 4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time.",
            ),
            any(
                "450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/{domain}.html",
            ),
            any("451 4.3.0 Mail server temporarily rejected message."),
            any("450 4.7.1 Client host rejected: cannot find your hostname, [{ip}]"),
            any("451 4.7.1 Please try again later"),
            any("452 4.3.1 Insufficient system storage"),
            any("550 5.2.1 <{rcpt}>: mailbox is disabled"),
        ],
    },
    Class {
        code: DNS_FAILURE,
        weight: 150,
        reasons: &[
            any(SPIKE_REASON),
            any("550 5.1.2 Host unknown (Name server: {domain}: host not found)"),
            any("451 4.4.0 [internal] DNS lookup timeout"),
            any("554 5.4.4 [internal] Domain lookup failed"),
            any("554 5.4.4 [internal] MX lookup failed: SERVFAIL"),
        ],
    },
    Class {
        code: 22,
        weight: 50,
        reasons: &[
            at(
                "gmail.com",
                "552 5.2.2 The email account that you tried to reach is over quota.",
            ),
            at(
                "gmail.com",
                "452 4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp",
            ),
            at(
                "yahoo.com",
                "552 1 Requested mail action aborted, mailbox full",
            ),
            any("552 5.2.2 <{rcpt}>: Recipient address rejected: Mailbox full"),
            any("452 4.2.2 Mailbox full"),
            any("552 5.2.2 Quota exceeded (mailbox for user is full)"),
        ],
    },
    Class {
        code: 23,
        weight: 10,
        reasons: &[
            at(
                "gmail.com",
                "552 5.3.4 Your message exceeded Google's message size limits.",
            ),
            any("552 5.3.4 Message size exceeds fixed limit"),
            any("552 5.2.3 Message exceeds local size limit."),
        ],
    },
    Class {
        code: 24,
        weight: 30,
        reasons: &[
            any("421 4.4.2 [internal] connection timed out"),
            any("451 4.4.1 [internal] No available hosts: timed out"),
            any("554 5.4.7 [internal] exceeded max time without delivery"),
            any("421 4.4.2 Connection dropped due to timeout"),
        ],
    },
    Class {
        code: 25,
        weight: 20,
        reasons: &[
            any("554 5.7.1 [internal] recipient address was suppressed due to customer policy"),
            any("550 5.7.1 [internal] recipient blackholed"),
            any("554 5.7.1 <{rcpt}>: Recipient address rejected: Access denied"),
            any("550 5.7.0 Local Policy Violation"),
        ],
    },
    Class {
        code: 30,
        weight: 20,
        reasons: &[
            any("550 5.0.0 <{rcpt}>... Recipient rejected"),
            any("550 Requested action not taken: mailbox unavailable"),
            any("554 5.0.0 Service unavailable"),
        ],
    },
    Class {
        code: 40,
        weight: 30,
        reasons: &[
            any("550 5.0.0 Message rejected"),
            any("554 5.0.0 Transaction failed"),
            any("550 Rejected"),
            any("554 Message not allowed"),
        ],
    },
    Class {
        code: 50,
        weight: 100,
        reasons: &[
            any("554 5.7.1 Service unavailable; Client host [{ip}] blocked using Spamhaus"),
            any(
                "554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{ip}",
            ),
            at(
                "hotmail.com",
                "550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140).",
            ),
            at(
                "outlook.com",
                "550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
            ),
            at(
                "yahoo.com",
                "553 5.7.1 [BL21] Connections will not be accepted from {ip}, because the ip is in Spamhaus's list; see http://postmaster.yahoo.com/550-bl23.html",
            ),
            at(
                "aol.com",
                "554 5.7.1 :(HVU:B1) https://postmaster.aol.com/error-codes#554hvub1",
            ),
            any("550 5.7.1 Mail from {ip} refused, see https://www.barracudacentral.org/rbl"),
        ],
    },
    Class {
        code: 51,
        weight: 50,
        reasons: &[
            at(
                "yahoo.com",
                "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to user complaints - 4.16.55.1; see https://help.yahoo.com/kb/postmaster/SLN3434.html",
            ),
            at(
                "gmail.com",
                "550 5.7.1 [{ip}] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
            ),
            at(
                "hotmail.com",
                "550 SC-001 (COL004-MC1F12) Unfortunately, messages from {ip} weren't sent. Please contact your Internet service provider since part of their network is on our block list.",
            ),
            any("554 5.7.1 Message rejected due to spam block"),
            any("421 4.7.1 Too many spam complaints from {ip}, try again later"),
        ],
    },
    Class {
        code: 52,
        weight: 20,
        reasons: &[
            any(
                "554 5.7.1 The message was rejected because it contains prohibited virus or spam content",
            ),
            any("550 5.7.350 Remote server returned message detected as spam"),
            at(
                "gmail.com",
                "550 5.7.1 This message was blocked because its content presents a potential security issue.",
            ),
        ],
    },
    Class {
        code: 53,
        weight: 5,
        reasons: &[
            at(
                "gmail.com",
                "552 5.7.0 This message was blocked because its content presents a potential security issue. Please visit https://support.google.com/mail/?p=BlockedMessage to review our message content and attachment content guidelines.",
            ),
            any("554 5.6.1 Attachment type not allowed"),
            any("550 5.7.1 Message contains a prohibited attachment"),
        ],
    },
    Class {
        code: 54,
        weight: 10,
        reasons: &[
            any("550 5.7.1 Relaying denied"),
            any("554 5.7.1 <{rcpt}>: Relay access denied"),
            any("550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"),
        ],
    },
    Class {
        code: 60,
        weight: 10,
        reasons: &[
            any("Automatic reply: Out of Office"),
            any(
                "I am out of the office with limited access to email and will respond when I return.",
            ),
        ],
    },
    Class {
        code: 70,
        weight: 20,
        reasons: &[
            any("450 4.0.0 Temporary failure"),
            any("451 4.3.5 Server configuration problem"),
            any("421 4.3.2 Service not available, closing transmission channel"),
            any("451 Temporary local problem - please try later"),
        ],
    },
    Class {
        code: 80,
        weight: 2,
        reasons: &[any("Subscribe request")],
    },
    Class {
        code: 90,
        weight: 5,
        reasons: &[any("Unsubscribe request"), any("550 5.0.0 unsubscribe")],
    },
    Class {
        code: 100,
        weight: 3,
        reasons: &[
            any("Your message is awaiting verification: please confirm you are a real sender"),
            any("550 5.7.1 Sender address not yet verified: reply to the challenge sent to you"),
        ],
    },
];

/// Classes a delayed message reports, with weights; each has replies that
/// start with 4 (a temporary failure).
pub(super) const DELAY_CLASSES: &[(u16, u32)] =
    &[(20, 40), (21, 10), (22, 10), (24, 15), (51, 15), (70, 10)];

/// Why a message was refused before sending (class 25, admin failure).
pub(super) const POLICY_REJECTIONS: &[&str] = &[
    "550 5.7.1 [internal] Message generation rejected",
    "554 5.7.1 [internal] recipient address was suppressed due to customer policy",
    "550 5.7.1 [internal] message rejected: recipient is on the suppression list",
];

/// Why a message could not be built from its template (class 25).
pub(super) const GENERATION_FAILURES: &[&str] = &[
    "550 5.3.3 [internal] Error while rendering part html: substitution data value for first_name is missing",
    "550 5.3.3 [internal] Error while rendering part text: line 4: undefined macro 'order_total'",
    "554 5.3.0 [internal] Message generation failed",
];

/// The class with `code`.
pub(super) fn class(code: u16) -> Option<&'static Class> {
    CLASSES.iter().find(|c| c.code == code)
}

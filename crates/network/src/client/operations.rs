//! Puts and fetches in flight: a command made an operation (puts beyond
//! [`MAX_PUTS_IN_FLIGHT`] queued), sent to the mailbox's closest nodes, a put done at the
//! write quorum, a fetch's answers merged, one retry through a fresh lookup when the
//! remembered nodes fail, and the envelopes a fetch found missing sent back (repair).

use std::collections::HashMap;

use futures::channel::oneshot;
use libp2p::PeerId;

use super::task::{Driver, Request};
use super::{unix_now, Command, FetchResult, NetworkError, PutReceipt};
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::keys::{verify_put, MailboxKeys, MailboxPublicKeys, PutStamp};
use phantom_mailbox::protocol::{MailboxRequest, MailboxResponse, MAX_FETCH};
use phantom_mailbox::replica::{Progress, QuorumWrite, UnionRead};
use phantom_mailbox::MailboxAddress;

/// Puts written at once, counting those whose slower nodes have yet to answer; beyond,
/// puts wait in order. Each sends one request per node, so no node's connection carries
/// more than this many puts.
pub const MAX_PUTS_IN_FLIGHT: usize = 64;

/// An operation waiting for its mailbox's closest nodes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pending {
    Put(u64),
    Fetch(u64),
}

pub(super) struct PutOp {
    mailbox: MailboxPublicKeys,
    stamp: PutStamp,
    envelope: Envelope,
    write: Option<QuorumWrite<PeerId>>,
    /// Whether it already went back for a fresh lookup after remembered nodes failed it.
    retried: bool,
    reply: Option<oneshot::Sender<Result<PutReceipt, NetworkError>>>,
}

pub(super) struct FetchOp {
    mailbox: MailboxKeys,
    after: HashMap<PeerId, u64>,
    wait_ms: u32,
    union: UnionRead<PeerId>,
    outstanding: usize,
    answered: usize,
    retried: bool,
    reply: Option<oneshot::Sender<Result<FetchResult, NetworkError>>>,
}

impl Driver {
    pub(super) fn on_command(&mut self, command: Command) {
        if matches!(command, Command::Put { .. }) && self.puts.len() >= MAX_PUTS_IN_FLIGHT {
            return self.queued_puts.push_back(command);
        }
        let id = self.op_id();
        let (mailbox, pending) = match command {
            Command::Put {
                mailbox,
                stamp,
                envelope,
                reply,
            } => {
                let address = mailbox.address();
                self.puts.insert(
                    id,
                    PutOp {
                        mailbox,
                        stamp,
                        envelope,
                        write: None,
                        retried: false,
                        reply: Some(reply),
                    },
                );
                (address, Pending::Put(id))
            }
            Command::Fetch {
                mailbox,
                after,
                wait_ms,
                reply,
            } => {
                let address = mailbox.address();
                self.fetches.insert(
                    id,
                    FetchOp {
                        mailbox,
                        after,
                        wait_ms,
                        union: UnionRead::new(),
                        outstanding: 0,
                        answered: 0,
                        retried: false,
                        reply: Some(reply),
                    },
                );
                (address, Pending::Fetch(id))
            }
        };
        self.route(mailbox, pending);
    }

    pub(super) fn start(&mut self, pending: Pending, peers: Vec<PeerId>) {
        match pending {
            Pending::Put(op) => self.start_put(op, peers),
            Pending::Fetch(op) => self.start_fetch(op, peers),
        }
    }

    fn start_put(&mut self, op_id: u64, closest: Vec<PeerId>) {
        let Some(op) = self.puts.get_mut(op_id) else {
            return;
        };
        if closest.is_empty() {
            if let Some(reply) = op.reply.take() {
                let _ = reply.send(Err(NetworkError::NoNodes));
            }
            self.puts.remove(op_id);
            return;
        }
        let request = MailboxRequest::Put {
            mailbox: op.mailbox,
            stamp: op.stamp,
            envelope: op.envelope.clone(),
        };
        op.write = Some(QuorumWrite::new(
            closest.clone(),
            self.replication.write_quorum(),
        ));
        for peer in closest {
            let id = self
                .swarm
                .behaviour_mut()
                .mailbox
                .send_request(&peer, request.clone());
            self.requests.insert(
                id,
                Request::Op {
                    op: op_id,
                    peer,
                    after: 0,
                },
            );
        }
    }

    fn start_fetch(&mut self, op_id: u64, closest: Vec<PeerId>) {
        let Some(op) = self.fetches.get_mut(op_id) else {
            return;
        };
        if closest.is_empty() {
            if let Some(reply) = op.reply.take() {
                let _ = reply.send(Err(NetworkError::NoNodes));
            }
            self.fetches.remove(op_id);
            return;
        }
        op.outstanding = closest.len();
        let issued_at = unix_now();
        let requests: Vec<(PeerId, u64, MailboxRequest)> = closest
            .into_iter()
            .filter_map(|peer| {
                let after = op.after.get(&peer).copied().unwrap_or(0);
                // Readable: `MailboxClient::fetch` checked it.
                let authorization = op
                    .mailbox
                    .authorize_fetch(&peer.to_bytes(), issued_at)
                    .ok()?;
                let request = MailboxRequest::Fetch {
                    mailbox: *op.mailbox.public(),
                    issued_at,
                    authorization,
                    after,
                    limit: MAX_FETCH,
                    wait_ms: op.wait_ms,
                };
                Some((peer, after, request))
            })
            .collect();
        for (peer, after, request) in requests {
            let id = self
                .swarm
                .behaviour_mut()
                .mailbox
                .send_request(&peer, request);
            self.requests.insert(
                id,
                Request::Op {
                    op: op_id,
                    peer,
                    after,
                },
            );
        }
    }

    /// Sends an operation whose remembered nodes failed it through a fresh lookup, once.
    fn retry(&mut self, op_id: u64, mailbox: MailboxAddress, pending: Pending) {
        self.requests.retain(|_, request| !request.is_for(op_id));
        if let Some(nodes) = self.mailboxes.get_mut(&mailbox) {
            nodes.closest = None;
        }
        self.route(mailbox, pending);
    }

    pub(super) fn on_put_response(
        &mut self,
        op_id: u64,
        peer: PeerId,
        response: Option<MailboxResponse>,
    ) {
        let Some(op) = self.puts.get_mut(op_id) else {
            return;
        };
        let Some(write) = op.write.as_mut() else {
            return;
        };
        let progress = match response {
            Some(MailboxResponse::Stored { seq, .. }) => write.on_ack(&peer, seq),
            _ => write.on_failure(&peer),
        };
        let finished = match progress {
            Progress::Pending => return,
            Progress::Reached => Ok(PutReceipt {
                acks: write.acks().to_vec(),
            }),
            Progress::Impossible if !op.retried => {
                op.retried = true;
                op.write = None;
                let mailbox = op.mailbox.address();
                return self.retry(op_id, mailbox, Pending::Put(op_id));
            }
            Progress::Impossible => Err(NetworkError::QuorumNotReached {
                acks: write.acks().len(),
                needed: self.replication.write_quorum().min(write.targets().len()),
            }),
        };
        if let Some(reply) = op.reply.take() {
            let _ = reply.send(finished);
        }
        let all_answered = !self.requests.values().any(|request| request.is_for(op_id));
        if all_answered {
            self.puts.remove(op_id);
        }
    }

    pub(super) fn on_fetch_response(
        &mut self,
        op_id: u64,
        peer: PeerId,
        after: u64,
        response: Option<MailboxResponse>,
    ) {
        let Some(op) = self.fetches.get_mut(op_id) else {
            return;
        };
        op.outstanding = op.outstanding.saturating_sub(1);
        // A refusal or a failure is one node fewer; the others answer.
        if let Some(MailboxResponse::Envelopes { items, last_seq }) = response {
            op.union.add(peer, after, items, last_seq);
            op.answered += 1;
        }
        if op.outstanding == 0 && op.answered == 0 && !op.retried {
            op.retried = true;
            let mailbox = op.mailbox.address();
            return self.retry(op_id, mailbox, Pending::Fetch(op_id));
        }
        // A waiting fetch is answered as soon as one node has something new.
        let early = op.wait_ms > 0 && !op.union.envelopes().is_empty();
        if op.outstanding > 0 && !early {
            return;
        }
        let Some(op) = self.fetches.remove(op_id) else {
            return;
        };
        let public = *op.mailbox.public();
        let repairs = op
            .union
            .repairs(|id, stamp| verify_put(&public, id, stamp).is_ok());
        for (peer, envelope, stamp) in &repairs {
            let request = MailboxRequest::Put {
                mailbox: public,
                stamp: *stamp,
                envelope: envelope.clone(),
            };
            self.swarm
                .behaviour_mut()
                .mailbox
                .send_request(peer, request);
        }
        self.requests.retain(|_, request| !request.is_for(op_id));
        if let Some(reply) = op.reply {
            let _ = reply.send(Ok(FetchResult {
                cursors: op.union.cursors().to_vec(),
                duplicates: op.union.duplicates(),
                repaired: repairs.len(),
                envelopes: op.union.into_envelopes(),
            }));
        }
    }
}

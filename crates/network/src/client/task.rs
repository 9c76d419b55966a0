//! The network task: [`Driver`] owns the swarm, takes the handle's commands and the
//! swarm's events in one loop, and routes each response to the lookup or operation whose
//! request it answers.

use std::collections::{HashMap, VecDeque};

use futures::channel::mpsc;
use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, Swarm};

use super::lookup::MailboxNodes;
use super::operations::{FetchOp, PutOp, MAX_PUTS_IN_FLIGHT};
use super::transport::{ClientBehaviour, ClientBehaviourEvent};
use super::Command;
use crate::Replication;
use phantom_mailbox::protocol::MailboxResponse;
use phantom_mailbox::MailboxAddress;

/// Operations in flight by id: a few dozen at most, so a list (smaller in the browser's
/// package than another hash map).
pub(super) struct Ops<T>(Vec<(u64, T)>);

impl<T> Ops<T> {
    pub(super) fn insert(&mut self, id: u64, op: T) {
        self.0.push((id, op));
    }

    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        self.0
            .iter_mut()
            .find(|(op, _)| *op == id)
            .map(|(_, op)| op)
    }

    fn contains(&self, id: u64) -> bool {
        self.0.iter().any(|(op, _)| *op == id)
    }

    pub(super) fn remove(&mut self, id: u64) -> Option<T> {
        let index = self.0.iter().position(|(op, _)| *op == id)?;
        Some(self.0.swap_remove(index).1)
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// What a request in flight is for.
pub(super) enum Request {
    /// A lookup's `FindNodes` for this mailbox.
    FindNodes(MailboxAddress),
    /// Operation `op`'s request to `peer`, a fetch's after `after`.
    Op { op: u64, peer: PeerId, after: u64 },
}

impl Request {
    pub(super) fn is_for(&self, op_id: u64) -> bool {
        matches!(self, Request::Op { op, .. } if *op == op_id)
    }
}

pub(super) struct Driver {
    pub(super) swarm: Swarm<ClientBehaviour>,
    pub(super) replication: Replication,
    /// The nodes this client was given; lookups ask them, a few at a time in turn.
    pub(super) known: Vec<PeerId>,
    pub(super) next_asked: usize,
    next_op: u64,
    pub(super) mailboxes: HashMap<MailboxAddress, MailboxNodes>,
    pub(super) puts: Ops<PutOp>,
    /// Puts waiting for one of [`MAX_PUTS_IN_FLIGHT`] to finish.
    pub(super) queued_puts: VecDeque<Command>,
    pub(super) fetches: Ops<FetchOp>,
    pub(super) requests: HashMap<OutboundRequestId, Request>,
}

impl Driver {
    pub(super) fn new(
        swarm: Swarm<ClientBehaviour>,
        replication: Replication,
        known: Vec<PeerId>,
    ) -> Self {
        Self {
            swarm,
            replication,
            known,
            next_asked: 0,
            next_op: 0,
            mailboxes: HashMap::new(),
            puts: Ops(Vec::new()),
            queued_puts: VecDeque::new(),
            fetches: Ops(Vec::new()),
            requests: HashMap::new(),
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            futures::select! {
                command = commands.next() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
            }
            while self.puts.len() < MAX_PUTS_IN_FLIGHT {
                let Some(put) = self.queued_puts.pop_front() else {
                    break;
                };
                self.on_command(put);
            }
        }
    }

    pub(super) fn op_id(&mut self) -> u64 {
        self.next_op += 1;
        self.next_op
    }

    fn on_event(&mut self, event: SwarmEvent<ClientBehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(ClientBehaviourEvent::Mailbox(
                request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                },
            )) => self.on_response(request_id, Some(response)),
            SwarmEvent::Behaviour(ClientBehaviourEvent::Mailbox(
                request_response::Event::OutboundFailure {
                    request_id, peer, ..
                },
            )) => {
                self.forget_node(&peer);
                self.on_response(request_id, None);
            }
            _ => {}
        }
    }

    fn on_response(&mut self, request_id: OutboundRequestId, response: Option<MailboxResponse>) {
        let (op_id, peer, after) = match self.requests.remove(&request_id) {
            Some(Request::FindNodes(mailbox)) => return self.on_nodes(mailbox, response),
            Some(Request::Op { op, peer, after }) => (op, peer, after),
            None => return,
        };
        if self.puts.contains(op_id) {
            self.on_put_response(op_id, peer, response);
        } else if self.fetches.contains(op_id) {
            self.on_fetch_response(op_id, peer, after, response);
        }
    }
}

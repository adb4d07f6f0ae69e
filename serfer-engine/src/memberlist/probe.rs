//! Failure detection: direct probes, indirect probes through peers (with
//! nacks), the TCP fallback ping, and answering other nodes' probes.
//!
//! One probe runs at a time. It sends a ping, waits `probe_timeout`, then asks
//! `indirect_checks` peers to ping the target too (and a TCP ping if the target
//! supports it), and gives up at the end of the probe interval scaled by the
//! local health score. A probe that gets no ack makes the target suspect.

use std::net::SocketAddr;

use serfer_wire::frame::StreamMessage;
use serfer_wire::memberlist::{Ack, IndirectPing, Message, Nack, Ping, Suspect};

use super::state::{ip_bytes, socket_addr, Member, MemberState};
use super::{Memberlist, NodeEvent, Output};
use crate::Instant;

/// Who waits for an ack of a given sequence number.
#[derive(Debug, Clone)]
pub(crate) enum AckHandler {
    /// This node's own probe.
    Probe,
    /// A ping sent on behalf of another node's indirect probe: relay the ack to
    /// `to` under its sequence number, or a nack if none came by `expires`.
    Forward {
        to: SocketAddr,
        seq_no: u32,
        nack: bool,
        expires: Instant,
    },
}

/// The probe in flight.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    target: String,
    target_addr: SocketAddr,
    /// The target's incarnation when the probe started: a failure accuses that
    /// incarnation, so a refutation in the meantime wins.
    target_incarnation: u32,
    target_pmax: u8,
    seq_no: u32,
    sent: Instant,
    /// End of the direct phase.
    timeout_at: Instant,
    /// End of the probe (the probe interval scaled by health).
    deadline: Instant,
    indirect_sent: bool,
    expected_nacks: u32,
    nacks: u32,
    /// The TCP fallback ping was answered.
    fallback_ok: bool,
}

impl Probe {
    /// The next time this probe has something to do.
    pub(crate) fn next_deadline(&self) -> Instant {
        if self.indirect_sent {
            self.deadline
        } else {
            self.timeout_at
        }
    }
}

impl Memberlist {
    /// Picks the next node in probe order and probes it. At the end of the list
    /// the list is reset: long-dead nodes are forgotten and the rest reshuffled.
    pub(crate) fn start_probe(&mut self, now: Instant) {
        let mut checked = 0;
        loop {
            if checked >= self.members.len() {
                return;
            }
            if self.probe_index >= self.members.len() {
                self.reset_nodes(now);
                self.probe_index = 0;
                checked += 1;
                continue;
            }
            let Some(m) = self.members.at(self.probe_index) else {
                return;
            };
            self.probe_index += 1;
            if m.name == self.config.name || m.state.is_dead_or_left() {
                checked += 1;
                continue;
            }
            let target = m.clone();
            self.probe_node(now, target);
            return;
        }
    }

    /// Forgets nodes dead or left for longer than `gossip_to_the_dead_time`
    /// and reshuffles the probe order.
    fn reset_nodes(&mut self, now: Instant) {
        let me = self.config.name.clone();
        let horizon = self.config.gossip_to_the_dead_time;
        let gone = self.members.reset(&mut self.rng, |m| {
            m.name != me
                && m.state.is_dead_or_left()
                && now.saturating_since(m.state_change) > horizon
        });
        for m in gone {
            self.outputs.push_back(Output::Event(NodeEvent::Reap(m)));
        }
    }

    /// A ping from this node, asking for the ack to come back here.
    fn own_ping(&self, seq_no: u32, node: &str) -> Ping {
        Ping {
            seq_no,
            node: node.to_owned(),
            source_addr: ip_bytes(self.config.advertise.ip()),
            source_port: self.config.advertise.port(),
            source_node: self.config.name.clone(),
        }
    }

    fn probe_node(&mut self, now: Instant, target: Member) {
        let seq_no = self.next_seq_no();
        let ping = self.own_ping(seq_no, &target.name);
        let Ok(ping_bytes) = Message::Ping(ping).encode() else {
            return;
        };
        if target.state == MemberState::Alive {
            self.send_msg(target.addr, ping_bytes);
        } else {
            // A suspect gets the accusation with the ping, so that it can
            // refute even if the gossip about it never reached it.
            let suspect = Suspect {
                incarnation: target.incarnation,
                node: target.name.clone(),
                from: self.config.name.clone(),
            };
            let Ok(suspect) = Message::Suspect(suspect).encode() else {
                return;
            };
            let crc = target.protocol_max() >= 5;
            self.send_packet(target.addr, crc, &[ping_bytes, suspect]);
        }
        let deadline = now + self.awareness.scale(self.config.probe_interval);
        self.ack_handlers.insert(seq_no, AckHandler::Probe);
        self.probe = Some(Probe {
            target: target.name,
            target_addr: target.addr,
            target_incarnation: target.incarnation,
            target_pmax: target.vsn[1],
            seq_no,
            sent: now,
            timeout_at: now + self.config.probe_timeout,
            deadline,
            indirect_sent: false,
            expected_nacks: 0,
            nacks: 0,
            fallback_ok: false,
        });
    }

    /// Moves the probe in flight along: indirect phase after `probe_timeout`,
    /// verdict at the deadline.
    pub(crate) fn advance_probe(&mut self, now: Instant) {
        let Some(probe) = &self.probe else {
            return;
        };
        if !probe.indirect_sent && now >= probe.timeout_at {
            self.send_indirect_probes();
        }
        let Some(probe) = &self.probe else {
            return;
        };
        if now < probe.deadline {
            return;
        }
        let Some(probe) = self.probe.take() else {
            return;
        };
        self.ack_handlers.remove(&probe.seq_no);
        if probe.fallback_ok {
            // Reachable over TCP only: treated as alive, as Go does.
            self.stats.probes_answered_by_tcp += 1;
            tracing::warn!(
                "Was able to connect to {} but other probes failed, network may be misconfigured",
                probe.target
            );
            self.awareness.apply_delta(-1);
            return;
        }
        self.stats.failed_probes += 1;
        tracing::info!("Suspect {} has failed, no acks received", probe.target);
        // Missing nacks mean the helpers themselves did not answer: more likely
        // this node's own network is at fault, so its health takes the blame.
        let delta = if probe.expected_nacks > 0 {
            probe.expected_nacks.saturating_sub(probe.nacks)
        } else {
            1
        };
        self.awareness.apply_delta(i64::from(delta));
        let suspect = Suspect {
            incarnation: probe.target_incarnation,
            node: probe.target,
            from: self.config.name.clone(),
        };
        self.suspect_node(now, suspect);
    }

    fn send_indirect_probes(&mut self) {
        let Some(probe) = &mut self.probe else {
            return;
        };
        probe.indirect_sent = true;
        let (target, seq_no, target_addr, target_pmax) = (
            probe.target.clone(),
            probe.seq_no,
            probe.target_addr,
            probe.target_pmax,
        );
        let me = self.config.name.clone();
        let peers = self
            .members
            .k_random(self.config.indirect_checks, &mut self.rng, |m| {
                m.name != me && m.name != target && m.state == MemberState::Alive
            });
        let mut expected_nacks = 0;
        for i in peers {
            let Some(peer) = self.members.at(i) else {
                continue;
            };
            let (addr, nack) = (peer.addr, peer.protocol_max() >= 4);
            expected_nacks += u32::from(nack);
            let ind = IndirectPing {
                seq_no,
                target: ip_bytes(target_addr.ip()),
                port: target_addr.port(),
                node: target.clone(),
                nack,
                source_addr: ip_bytes(self.config.advertise.ip()),
                source_port: self.config.advertise.port(),
                source_node: me.clone(),
            };
            if let Ok(bytes) = Message::IndirectPing(ind).encode() {
                self.send_msg(addr, bytes);
            }
        }
        if !self.config.disable_tcp_pings && target_pmax >= 3 {
            let ping = self.own_ping(seq_no, &target);
            let deadline = self.probe.as_ref().map(|p| p.deadline);
            if let (Some(bytes), Some(deadline)) =
                (self.encode_stream(&StreamMessage::Ping(ping)), deadline)
            {
                self.outputs.push_back(Output::StreamPing {
                    to: target_addr,
                    bytes,
                    deadline,
                });
            }
        }
        if let Some(probe) = &mut self.probe {
            probe.expected_nacks = expected_nacks;
        }
    }

    /// Answers a ping addressed to this node (or to nobody in particular).
    pub(crate) fn handle_ping(&mut self, from: SocketAddr, p: Ping) {
        // A ping for another name is for a previous owner of this address.
        if !p.node.is_empty() && p.node != self.config.name {
            return;
        }
        let ack = Ack {
            seq_no: p.seq_no,
            payload: self.ack_payload.clone(),
        };
        let to = reply_addr(&p.source_addr, p.source_port).unwrap_or(from);
        if let Ok(bytes) = Message::Ack(ack).encode() {
            self.send_msg(to, bytes);
        }
    }

    /// Pings a node on behalf of another node's probe.
    pub(crate) fn handle_indirect_ping(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ind: IndirectPing,
    ) {
        let port = if ind.port == 0 {
            self.config.advertise.port()
        } else {
            ind.port
        };
        let Some(target) = socket_addr(&ind.target, port) else {
            return;
        };
        let local_seq = self.next_seq_no();
        let requester = reply_addr(&ind.source_addr, ind.source_port).unwrap_or(from);
        self.ack_handlers.insert(
            local_seq,
            AckHandler::Forward {
                to: requester,
                seq_no: ind.seq_no,
                nack: ind.nack,
                expires: now + self.config.probe_timeout,
            },
        );
        let ping = self.own_ping(local_seq, &ind.node);
        if let Ok(bytes) = Message::Ping(ping).encode() {
            self.send_msg(target, bytes);
        }
    }

    /// An ack: completes this node's probe, or is relayed to the node whose
    /// indirect probe this node helped with.
    pub(crate) fn handle_ack(&mut self, now: Instant, ack: Ack) {
        match self.ack_handlers.remove(&ack.seq_no) {
            Some(AckHandler::Probe) => {
                let Some(probe) = self.probe.take() else {
                    return;
                };
                self.awareness.apply_delta(-1);
                let direct = !probe.indirect_sent;
                match ack.payload {
                    Some(payload) if direct && !payload.is_empty() => {
                        self.outputs.push_back(Output::PingComplete {
                            node: probe.target,
                            rtt: now.saturating_since(probe.sent),
                            payload,
                        });
                    }
                    _ => {}
                }
            }
            Some(AckHandler::Forward { to, seq_no, .. }) => {
                let ack = Ack {
                    seq_no,
                    payload: None,
                };
                if let Ok(bytes) = Message::Ack(ack).encode() {
                    self.send_msg(to, bytes);
                }
            }
            None => {}
        }
    }

    /// A nack: a helper could not reach the target, but it is itself alive.
    pub(crate) fn handle_nack(&mut self, nack: Nack) {
        if let (Some(AckHandler::Probe), Some(probe)) =
            (self.ack_handlers.get(&nack.seq_no), &mut self.probe)
        {
            if probe.seq_no == nack.seq_no {
                probe.nacks += 1;
            }
        }
    }

    /// Expires the pings sent for other nodes, sending the nacks they asked for.
    pub(crate) fn expire_ack_handlers(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .ack_handlers
            .iter()
            .filter(|(_, h)| matches!(h, AckHandler::Forward { expires, .. } if *expires <= now))
            .map(|(&seq, _)| seq)
            .collect();
        for seq in due {
            if let Some(AckHandler::Forward {
                to,
                seq_no,
                nack: true,
                ..
            }) = self.ack_handlers.remove(&seq)
            {
                if let Ok(bytes) = Message::Nack(Nack { seq_no }).encode() {
                    self.send_msg(to, bytes);
                }
            }
        }
    }

    /// Records the answer to a TCP fallback ping.
    pub(crate) fn stream_ping_answered(&mut self, ack: &Ack) {
        if let Some(probe) = &mut self.probe {
            if probe.seq_no == ack.seq_no {
                probe.fallback_ok = true;
            }
        }
    }
}

/// Where an ack goes when the ping named a source: both address and port set.
fn reply_addr(ip: &[u8], port: u16) -> Option<SocketAddr> {
    if ip.is_empty() || port == 0 {
        return None;
    }
    socket_addr(ip, port)
}

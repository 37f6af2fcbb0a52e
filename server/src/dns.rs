//! Service discovery over DNS, as Mesos-DNS did for Marathon: `agora server --dns-listen ADDR`
//! answers, over UDP and TCP, for the healthy instances of each service (its endpoints):
//!
//! - `A SERVICE.agora.`: the addresses of the agents its instances run on;
//! - `SRV _PORT._tcp.SERVICE.agora.`: each instance's host port of that name, with target
//!   `INSTANCE.SERVICE.agora.` (its A record comes along as additional data);
//! - `SRV SERVICE.agora.`: every named port of every instance;
//! - `A INSTANCE.SERVICE.agora.`: one instance's agent.
//!
//! Every replica answers, from a table it rebuilds from the store when the operator stream
//! moves (and every second). Messages are read and written with hickory-proto.

use crate::master::records::{key, AgentRecord};
use crate::master::Master;
use crate::services::{self, FRAMEWORK_ID, LABEL_SERVICE};
use agora_api::AgentId;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, UdpSocket};

/// How long resolvers may keep an answer: instances come and go.
const TTL: u32 = 5;
/// The table is rebuilt at least this often, and at most this often on changes.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
const REFRESH_BATCH: Duration = Duration::from_millis(50);
/// The largest UDP answer to a query without EDNS (RFC 1035), and with it: 1,232 bytes, as DNS
/// Flag Day 2020 advised, so that answers are not fragmented and a small query cannot draw a
/// large answer at a forged address.
const UDP_PLAIN_MAX: usize = 512;
const UDP_EDNS_MAX: usize = 1232;
/// How long a TCP client may take to send a query.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// One healthy instance as DNS shows it.
#[derive(Clone, Debug, PartialEq)]
struct Instance {
    /// The part of its task id after `SERVICE.`: a DNS label.
    label: String,
    address: Option<IpAddr>,
    ports: BTreeMap<String, u16>,
}

/// The endpoints of every service, by service id.
type Table = HashMap<String, Vec<Instance>>;

/// Serves DNS for `domain` (such as `agora`) on `udp` and `tcp` until the task is dropped.
pub async fn serve(master: Arc<Master>, domain: &str, udp: UdpSocket, tcp: TcpListener) {
    let Ok(zone) = Name::from_ascii(format!("{}.", domain.trim_end_matches('.'))) else {
        tracing::error!(domain, "not a DNS name: DNS is off");
        return;
    };
    let table = Arc::new(RwLock::new(Table::new()));
    let answerer = Arc::new(Answerer { zone, table: table.clone() });
    // In this one task, so that stopping it stops them all.
    tokio::select! {
        _ = refresh(master, table) => {}
        _ = serve_tcp(answerer.clone(), tcp) => {}
        _ = serve_udp(answerer, udp) => {}
    }
}

async fn serve_udp(answerer: Arc<Answerer>, udp: UdpSocket) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = udp.recv_from(&mut buf).await else { continue };
        if let Some(answer) = answerer.answer(&buf[..n], true) {
            let _ = udp.send_to(&answer, from).await;
        }
    }
}

async fn serve_tcp(answerer: Arc<Answerer>, listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let answerer = answerer.clone();
        tokio::spawn(async move {
            // Queries framed by a two-byte length (RFC 1035 4.2.2), until the client closes.
            loop {
                let mut length = [0u8; 2];
                match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut length)).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                let mut query = vec![0u8; u16::from_be_bytes(length) as usize];
                if !matches!(tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut query)).await, Ok(Ok(_))) {
                    return;
                }
                let Some(answer) = answerer.answer(&query, false) else { return };
                let Ok(length) = u16::try_from(answer.len()) else { return };
                if stream.write_all(&length.to_be_bytes()).await.is_err() || stream.write_all(&answer).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Rebuilds the table when the operator stream moves, and every second.
async fn refresh(master: Arc<Master>, table: Arc<RwLock<Table>>) {
    let moved = master.store.watch(key::EVENTS);
    loop {
        let notified = moved.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match build(&master).await {
            Ok(built) => *table.write().unwrap_or_else(|p| p.into_inner()) = built,
            Err(e) => tracing::debug!(error = %e, "could not refresh the DNS table"),
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(REFRESH_EVERY) => {}
        }
        tokio::time::sleep(REFRESH_BATCH).await;
    }
}

/// Every service's healthy instances, from the store.
async fn build(master: &Master) -> Result<Table, crate::ServerError> {
    let services = master.load_services().await?;
    let mut table: Table = services.iter().map(|(id, _)| (id.clone(), Vec::new())).collect();
    if services.is_empty() {
        return Ok(table);
    }
    let tasks = master.framework_tasks(&agora_api::FrameworkId::from(FRAMEWORK_ID)).await?;
    let mut agent_ids: Vec<AgentId> = tasks.iter().map(|t| t.value.info.agent_id.clone()).collect();
    agent_ids.sort();
    agent_ids.dedup();
    let keys: Vec<String> = agent_ids.iter().map(key::agent).collect();
    let agents: HashMap<AgentId, AgentRecord> = agent_ids
        .into_iter()
        .zip(master.load_many::<AgentRecord>(&keys).await?)
        .filter_map(|(id, a)| a.map(|a| (id, a.value)))
        .collect();
    for (id, service) in &services {
        let spec = &service.value.spec;
        let ready = services::load_ready(master, id, spec).await?;
        let of_service = tasks.iter().map(|t| &t.value).filter(|t| t.info.labels.get(LABEL_SERVICE) == Some(id));
        let endpoints = services::endpoints_of(id, spec, of_service, &agents, &ready);
        let instances = endpoints.endpoints.into_iter().map(|e| Instance {
            label: e
                .task_id
                .as_str()
                .strip_prefix(&format!("{id}."))
                .unwrap_or(e.task_id.as_str())
                .to_ascii_lowercase(),
            // The address it connected from, never the hostname it names itself.
            address: agents.get(&e.agent_id).and_then(|a| a.address),
            ports: e.ports,
        });
        table.insert(id.clone(), instances.collect());
    }
    Ok(table)
}

struct Answerer {
    zone: Name,
    table: Arc<RwLock<Table>>,
}

impl Answerer {
    /// The answer to a query message; `None` for what is not a query (nothing is sent back).
    fn answer(&self, bytes: &[u8], udp: bool) -> Option<Vec<u8>> {
        let request = Message::from_vec(bytes).ok()?;
        if request.message_type() != MessageType::Query {
            return None;
        }
        let mut response = Message::new();
        response.set_id(request.id()).set_message_type(MessageType::Response).set_op_code(request.op_code());
        response.set_recursion_desired(request.recursion_desired());
        response.add_queries(request.queries().to_vec());
        let (Some(query), 1, OpCode::Query) = (request.queries().first(), request.queries().len(), request.op_code())
        else {
            response.set_response_code(ResponseCode::NotImp);
            return response.to_vec().ok();
        };
        let name = query.name().to_lowercase();
        if !self.zone.zone_of(&name) {
            response.set_response_code(ResponseCode::Refused);
            return response.to_vec().ok();
        }
        response.set_authoritative(true);
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        match self.records(&table, &name, query.query_type()) {
            None => {
                response.set_response_code(ResponseCode::NXDomain);
            }
            Some((answers, additionals)) => {
                response.add_answers(answers);
                response.add_additionals(additionals);
            }
        }
        drop(table);
        let limit = if udp {
            let asked = request.extensions().as_ref().map_or(UDP_PLAIN_MAX, |e| usize::from(e.max_payload()));
            asked.clamp(UDP_PLAIN_MAX, UDP_EDNS_MAX)
        } else {
            usize::from(u16::MAX)
        };
        let bytes = response.to_vec().ok()?;
        if bytes.len() <= limit {
            return Some(bytes);
        }
        // Too large for the datagram: say so, and the client asks again over TCP.
        response.take_answers();
        response.take_additionals();
        response.set_truncated(true);
        response.to_vec().ok()
    }

    /// The records for `name` and `kind`: `None` when the name does not exist.
    fn records(&self, table: &Table, name: &Name, kind: RecordType) -> Option<(Vec<Record>, Vec<Record>)> {
        let labels: Vec<String> = name
            .iter()
            .take(name.num_labels() as usize - self.zone.num_labels() as usize)
            .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
            .collect();
        let mut out = (Vec::new(), Vec::new());
        match labels.as_slice() {
            [service] => {
                let instances = table.get(service)?;
                match kind {
                    RecordType::A | RecordType::AAAA | RecordType::ANY => {
                        let mut seen = Vec::new();
                        for address in instances.iter().filter_map(|i| i.address) {
                            if !seen.contains(&address) {
                                seen.push(address);
                                out.0.extend(address_record(name, address, kind));
                            }
                        }
                    }
                    RecordType::SRV => {
                        for i in instances {
                            for port in i.ports.values() {
                                self.srv(name, service, i, *port, &mut out);
                            }
                        }
                    }
                    _ => {}
                }
            }
            [port, protocol, service] if port.starts_with('_') && protocol == "_tcp" => {
                let instances = table.get(service)?;
                let port_name = &port[1..];
                if kind == RecordType::SRV || kind == RecordType::ANY {
                    for i in instances {
                        if let Some(port) = i.ports.get(port_name) {
                            self.srv(name, service, i, *port, &mut out);
                        }
                    }
                }
            }
            [instance, service] => {
                let found = table.get(service)?.iter().find(|i| &i.label == instance)?;
                if let Some(address) = found.address {
                    out.0.extend(address_record(name, address, kind));
                }
            }
            _ => return None,
        }
        Some(out)
    }

    /// An SRV record for one port of one instance, and its target's address as additional.
    fn srv(&self, owner: &Name, service: &str, i: &Instance, port: u16, out: &mut (Vec<Record>, Vec<Record>)) {
        let Ok(target) = Name::from_ascii(format!("{}.{service}.{}", i.label, self.zone)) else { return };
        let (answers, additionals) = out;
        answers.push(Record::from_rdata(owner.clone(), TTL, RData::SRV(SRV::new(0, 1, port, target.clone()))));
        if let Some(address) = i.address {
            if !additionals.iter().any(|r: &Record| r.name() == &target) {
                additionals.extend(address_record(&target, address, RecordType::ANY));
            }
        }
    }
}

/// An A or AAAA record of `address` for `name`, if `kind` asks for that family.
fn address_record(name: &Name, address: IpAddr, kind: RecordType) -> Option<Record> {
    match (address, kind) {
        (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => {
            Some(Record::from_rdata(name.clone(), TTL, RData::A(A(v4))))
        }
        (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => {
            Some(Record::from_rdata(name.clone(), TTL, RData::AAAA(AAAA(v6))))
        }
        _ => None,
    }
}

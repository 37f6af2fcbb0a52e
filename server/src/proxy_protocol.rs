//! The PROXY protocol (HAProxy's, versions 1 and 2). A TCP load balancer that passes
//! connections through, as TLS with client certificates needs (an AWS Network Load Balancer,
//! HAProxy in `mode tcp`), cannot add `X-Forwarded-For`: it prefixes each connection with the
//! client's address instead. With `--proxy-protocol`, a connection from one of
//! `--trusted-proxies` must begin with such a header; nobody else's is read, so a client cannot
//! name its own address.

use std::net::IpAddr;
use tokio::io::AsyncReadExt as _;

/// Version 2's signature, the first twelve bytes of its header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's header is a line of at most 107 bytes, its CRLF included.
const V1_MAX: usize = 107;
/// Version 2's addresses and extensions: far more than a balancer sends (AWS adds a VPC
/// endpoint id), far less than the 64 KiB its length field allows.
const V2_MAX_BODY: usize = 4096;

/// Reads a PROXY header from the start of `stream` and returns the client's address: the one
/// the header names, or `peer` for a header that names none (`UNKNOWN`, or version 2's `LOCAL`,
/// which balancers use for their own health checks). Reads exactly the header, so what follows
/// (a TLS handshake, a request) is left for the server.
pub async fn read_client_address<S>(stream: &mut S, peer: IpAddr) -> Result<IpAddr, String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    // Eight bytes start either version and are fewer than the shortest header of each.
    let mut header = vec![0u8; 8];
    stream.read_exact(&mut header).await.map_err(|e| e.to_string())?;
    if header[..] == V2_SIGNATURE[..8] {
        header.resize(16, 0);
        stream.read_exact(&mut header[8..]).await.map_err(|e| e.to_string())?;
        let length = usize::from(u16::from_be_bytes([header[14], header[15]]));
        if length > V2_MAX_BODY {
            return Err(format!("a PROXY v2 header of {length} bytes is longer than {V2_MAX_BODY}"));
        }
        header.resize(16 + length, 0);
        stream.read_exact(&mut header[16..]).await.map_err(|e| e.to_string())?;
    } else if header.starts_with(b"PROXY ") {
        // A byte at a time: the line's end is not known beforehand, and reading past it would
        // take bytes that belong to the TLS handshake or the request.
        while !header.ends_with(b"\r\n") {
            if header.len() >= V1_MAX {
                return Err(format!("a PROXY v1 header has no end within {V1_MAX} bytes"));
            }
            header.push(stream.read_u8().await.map_err(|e| e.to_string())?);
        }
    } else {
        return Err("the connection does not begin with a PROXY protocol header".into());
    }
    client_address(&header, peer)
}

/// The source address of a complete header.
fn client_address(header: &[u8], peer: IpAddr) -> Result<IpAddr, String> {
    use ppp::{v1, v2};
    match ppp::HeaderResult::parse(header) {
        ppp::HeaderResult::V1(Ok(h)) => Ok(match h.addresses {
            v1::Addresses::Tcp4(a) => a.source_address.into(),
            v1::Addresses::Tcp6(a) => a.source_address.into(),
            v1::Addresses::Unknown => peer,
        }),
        ppp::HeaderResult::V2(Ok(h)) => Ok(match (h.command, h.addresses) {
            (v2::Command::Proxy, v2::Addresses::IPv4(a)) => a.source_address.into(),
            (v2::Command::Proxy, v2::Addresses::IPv6(a)) => a.source_address.into(),
            _ => peer,
        }),
        ppp::HeaderResult::V1(Err(e)) => Err(format!("a malformed PROXY v1 header: {e}")),
        ppp::HeaderResult::V2(Err(e)) => Err(format!("a malformed PROXY v2 header: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5));

    /// Reads a header from `bytes` followed by a request, and returns the address and what was
    /// left unread.
    async fn read(bytes: &[u8]) -> (Result<IpAddr, String>, Vec<u8>) {
        let input = [bytes, b"GET / HTTP/1.1\r\n"].concat();
        let mut reader = &input[..];
        let address = read_client_address(&mut reader, PEER).await;
        (address, reader.to_vec())
    }

    #[tokio::test]
    async fn both_versions_name_the_client_and_leave_the_request_unread() {
        let v1 = b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\n";
        assert_eq!(read(v1).await, (Ok("192.0.2.7".parse().expect("ip")), b"GET / HTTP/1.1\r\n".to_vec()));
        let v1_6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 51234 443\r\n";
        assert_eq!(read(v1_6).await.0, Ok("2001:db8::7".parse().expect("ip")));
        assert_eq!(read(b"PROXY UNKNOWN\r\n").await.0, Ok(PEER));

        let (client, server): (SocketAddr, SocketAddr) =
            ("198.51.100.9:40000".parse().expect("addr"), "10.0.0.1:443".parse().expect("addr"));
        let v2 = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            (client, server),
        )
        .build()
        .expect("a v2 header");
        assert_eq!(read(&v2).await, (Ok(client.ip()), b"GET / HTTP/1.1\r\n".to_vec()));
        let local = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Local,
            ppp::v2::Protocol::Unspecified,
            ppp::v2::Addresses::Unspecified,
        )
        .build()
        .expect("a v2 header");
        assert_eq!(read(&local).await.0, Ok(PEER), "a balancer's own health check");
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        assert!(read(b"").await.0.is_err(), "a bare request from a proxy that should send a header");
        assert!(read(b"PROXY TCP4 not-an-address 10.0.0.1 1 2\r\n").await.0.is_err());
        assert!(read(&[b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat()).await.0.is_err(), "no end");
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(read(&huge).await.0.is_err(), "a v2 header longer than any balancer sends");
    }
}

//! `TCP_NODELAY` on the connections to PostgreSQL. sqlx opens its TCP connections without
//! it and offers no hook to set it, so a message that follows another one unacknowledged
//! (a COPY's `CopyDone` after its data, say) waits for the server's delayed acknowledgement:
//! about 40 ms on Linux, paid by every COPY. After a connection is made, every TCP socket
//! of this process connected to the database's port gets the option (the new one among
//! them; setting it again on an older one changes nothing). Unix-domain connections have
//! no such delay and are left alone.

use std::os::fd::{BorrowedFd, RawFd};

use socket2::{SockRef, Type};

/// Sets `TCP_NODELAY` on this process's TCP sockets whose peer listens on `port`; returns
/// how many it set it on. Sockets that close meanwhile are skipped.
pub fn apply(port: u16) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut set = 0;
    for entry in entries.flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<RawFd>() else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if is_socket && set_if_database(fd, port) {
            set += 1;
        }
    }
    set
}

fn set_if_database(fd: RawFd, port: u16) -> bool {
    // SAFETY: the descriptor was listed as open a moment ago and is only borrowed for these
    // calls; if it closed since, they fail with EBADF (or, if its number was reused, act on
    // the new socket, which the checks below still vet).
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let socket = SockRef::from(&fd);
    let is_tcp = socket.r#type().is_ok_and(|t| t == Type::STREAM);
    let to_database = socket
        .peer_addr()
        .ok()
        .and_then(|peer| peer.as_socket())
        .is_some_and(|peer| peer.port() == port);
    is_tcp && to_database && socket.set_tcp_nodelay(true).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sets_nodelay_on_connections_to_the_port_and_on_no_other() {
        let database = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to_database = tokio::net::TcpStream::connect(database.local_addr().unwrap())
            .await
            .unwrap();
        let to_other = tokio::net::TcpStream::connect(other.local_addr().unwrap())
            .await
            .unwrap();
        assert!(!to_database.nodelay().unwrap());

        assert!(apply(database.local_addr().unwrap().port()) >= 1);

        assert!(to_database.nodelay().unwrap());
        assert!(!to_other.nodelay().unwrap());
    }
}

//! `interop-server` as a process, for the tests that kill, stop and restart it.
#![allow(dead_code)]

use rpc_core::tls::dev::SelfSigned;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `cert`'s PEM files, in a directory of the test's own (`name`): tests run in parallel.
pub fn pem_files(cert: &SelfSigned, name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("interop-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert_pem()).unwrap();
    std::fs::write(&key_path, cert.key_pem()).unwrap();
    (cert_path, key_path)
}

/// An `interop-server` process serving with the given certificate; killed when dropped, so
/// a test failing half-way leaves nothing behind.
pub struct ServerProcess {
    child: Option<Child>,
    /// Where it listens (its first line of output).
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts one on `port` (0: any) and waits until it listens.
    pub fn start(port: u16, cert: &Path, key: &Path) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_interop-server"))
            .args(["--port", &port.to_string(), "--tls_cert"])
            .arg(cert)
            .arg("--tls_key")
            .arg(key)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start interop-server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next()
            .expect("the server prints its address")
            .unwrap();
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        // The rest of the output, drained so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        ServerProcess {
            child: Some(child),
            addr,
        }
    }

    /// SIGKILL: the process dies without a word to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to drain and exit; its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        child.wait().expect("wait for the server").code()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

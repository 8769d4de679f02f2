//! Name lookups for plugins: only the host names a step grants in `allow.network`, resolved by
//! runspec before the plugin starts, and nothing else.
//!
//! wasmtime-wasi's own `wasi:sockets/ip-name-lookup` asks the host resolver for any name once
//! lookups are enabled, which lets a plugin with a network grant send data out in DNS queries.
//! This module replaces that interface in the linker: `resolve-addresses` answers from the
//! step's table of granted names (IP literals answer themselves), and every other name is
//! refused without a query leaving the machine.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};

use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress};
use wasmtime_wasi::p2::{DynPollable, Network, Pollable};

use super::sandbox::StepState;

/// The interface as wasmtime-wasi defines it; guests importing any 0.2.x version link to it.
const INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";

/// The granted host names of one step and their addresses.
#[derive(Debug, Default, Clone)]
pub struct Names(HashMap<String, Vec<IpAddr>>);

impl Names {
    /// Resolves the host part of each `host:port` grant, in the host. A name that does not
    /// resolve fails the step before the plugin runs.
    pub fn resolve(grants: &[String]) -> Result<Names, String> {
        let mut names = HashMap::new();
        for g in grants {
            let Some((host, _)) = g.rsplit_once(':') else { continue };
            let host = normalise(host);
            if host.parse::<IpAddr>().is_ok() || names.contains_key(&host) {
                continue;
            }
            let addrs: Vec<IpAddr> = g
                .to_socket_addrs()
                .map_err(|e| {
                    format!("network grant `{g}`: {e} (write it as host:port, e.g. example.com:443)")
                })?
                .map(|a| a.ip())
                .collect();
            names.insert(host, addrs);
        }
        Ok(Names(names))
    }

    /// What a lookup of `name` answers: the granted name's addresses, an IP literal itself, or
    /// `AccessDenied`.
    pub fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, ErrorCode> {
        let name = normalise(name);
        if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        self.0.get(&name).cloned().ok_or(ErrorCode::AccessDenied)
    }
}

/// Host names compare without case and without a trailing dot.
fn normalise(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The answer to one lookup, handed out address by address.
pub struct Lookup {
    addrs: std::vec::IntoIter<IpAddr>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for Lookup {
    /// Answers are known before the lookup starts: always ready.
    async fn ready(&mut self) {}
}

/// Replaces wasmtime-wasi's `ip-name-lookup` in `linker` with [`Names`] lookups.
pub(super) fn add_to_linker(linker: &mut Linker<StepState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut i = linker.instance(INTERFACE)?;
    i.resource("resolve-address-stream", ResourceType::host::<Lookup>(), |mut store, rep| {
        store.data_mut().table().delete(Resource::<Lookup>::new_own(rep))?;
        Ok(())
    })?;
    i.func_wrap("resolve-addresses", |mut store, (network, name): (Resource<Network>, String)| {
        let state = store.data_mut();
        // The network resource is the capability to look names up at all.
        state.table().get(&network)?;
        let answer = match state.names().lookup(&name) {
            Ok(addrs) => Ok(state.table().push(Lookup { addrs: addrs.into_iter() })?),
            Err(code) => Err(code),
        };
        Ok((answer,))
    })?;
    i.func_wrap(
        "[method]resolve-address-stream.resolve-next-address",
        |mut store, (lookup,): (Resource<Lookup>,)| {
            let l = store.data_mut().table().get_mut(&lookup)?;
            let next: Option<IpAddress> = l.addrs.next().map(IpAddress::from);
            Ok((Ok::<_, ErrorCode>(next),))
        },
    )?;
    i.func_wrap("[method]resolve-address-stream.subscribe", |mut store, (lookup,): (Resource<Lookup>,)| {
        let pollable: Resource<DynPollable> = wasmtime_wasi::p2::subscribe(store.data_mut().table(), lookup)?;
        Ok((pollable,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_names_resolve() {
        let names = Names::resolve(&["localhost:80".to_string(), "127.0.0.1:9".to_string()]).unwrap();
        assert!(!names.lookup("localhost").unwrap().is_empty());
        assert!(!names.lookup("LocalHost.").unwrap().is_empty());
        assert_eq!(names.lookup("10.1.2.3").unwrap(), vec!["10.1.2.3".parse::<IpAddr>().unwrap()]);
        assert_eq!(names.lookup("[::1]").unwrap(), vec!["::1".parse::<IpAddr>().unwrap()]);
        for name in ["example.com", "exfil-6c6561.attacker.example", "localhost.attacker.example", ""] {
            assert!(matches!(names.lookup(name), Err(ErrorCode::AccessDenied)), "{name}");
        }
        assert!(Names::resolve(&["no-such-host.invalid:443".to_string()]).is_err());
    }
}

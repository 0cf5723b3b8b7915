//! The GSSAPI side (MIT krb5 through `libgssapi`): credentials from a keytab (held and renewed
//! by krb5 in a private in-memory cache), from a given ticket cache, or from the default one;
//! security contexts towards a service principal.

use std::ffi::CString;

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::error::{Error as GssError, MajorFlags};
use libgssapi::name::Name;
use libgssapi::oid::{OidSet, GSS_MECH_KRB5, GSS_NT_KRB5_PRINCIPAL};
use libgssapi_sys as sys;

use super::{KerberosConfig, KerberosError};

/// 1.2.840.113554.1.2.2.1, `GSS_KRB5_NT_PRINCIPAL_NAME`: a principal name as `user@REALM`.
const KRB5_PRINCIPAL_OID: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

/// A client identity of one cluster (or one service of it).
pub struct Login {
    config: KerberosConfig,
    /// The private cache a keytab login keeps its tickets in.
    memory_ccache: String,
}

fn classify(e: GssError, service: &str) -> KerberosError {
    let minor = e.minor as i32;
    let message = e.to_string();
    match KerberosError::classify(minor, message.clone(), service) {
        KerberosError::Other(m) if e.major.contains(MajorFlags::GSS_S_CREDENTIALS_EXPIRED) => {
            KerberosError::Expired(m)
        }
        KerberosError::Other(m) if e.major.contains(MajorFlags::GSS_S_NO_CRED) => {
            KerberosError::NoTicket(m)
        }
        other => other,
    }
}

impl Login {
    /// `label` names the login's private ticket cache (the cluster, and the service when it
    /// overrides the cluster's block).
    pub fn new(config: &KerberosConfig, label: &str) -> Login {
        if let Some(path) = &config.krb5_conf {
            super::use_krb5_conf(path);
        }
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        Login {
            config: config.clone(),
            memory_ccache: format!("MEMORY:smallfiles-{label}-{}", std::process::id()),
        }
    }

    pub fn config(&self) -> &KerberosConfig {
        &self.config
    }

    /// Credentials to initiate with. Asked anew for each negotiation: krb5 answers from its
    /// cache, and gets a new ticket from the keytab when the cached one is about to expire.
    pub fn credential(&self) -> Result<Cred, KerberosError> {
        let mut store: Vec<(&str, String)> = Vec::new();
        if let Some(k) = &self.config.keytab {
            if !k.is_file() {
                return Err(KerberosError::WrongKeytab(format!(
                    "keytab {} cannot be read",
                    k.display()
                )));
            }
            store.push(("client_keytab", k.display().to_string()));
            store.push(("ccache", self.memory_ccache.clone()));
        } else if let Some(c) = &self.config.ccache {
            store.push(("ccache", c.clone()));
        }
        let who = self.config.describe();
        let cred = acquire_from(self.config.principal.as_deref(), &store)
            .map_err(|e| match classify(e, "krbtgt") {
                // krb5 looks in the cache first and reports that when the keytab cannot
                // help either: with a keytab, that means it holds no key to log in with.
                KerberosError::NoTicket(m) if self.config.keytab.is_some() => {
                    KerberosError::WrongKeytab(format!(
                        "it holds no key for the principal (GSSAPI: {m})"
                    ))
                }
                other => other,
            })
            .map_err(|e| with_context(e, &who))?;
        // A cache whose tickets have all expired still yields a credential; its lifetime
        // says it is useless, and the KDC would not be asked again without a keytab.
        if self.config.keytab.is_none() {
            if let Ok(left) = cred.lifetime() {
                if left.is_zero() {
                    return Err(KerberosError::Expired(format!("the tickets of {who}")));
                }
            }
        }
        Ok(cred)
    }

    /// Starts a Kerberos security context towards `service` (`HTTP/nn1.example.com@REALM`),
    /// with mutual authentication; [`Initiator::step`] then yields the tokens to send.
    pub fn initiate(&self, service: &str) -> Result<Initiator, KerberosError> {
        let cred = self.credential()?;
        let name = Name::new(service.as_bytes(), Some(&GSS_NT_KRB5_PRINCIPAL))
            .map_err(|e| KerberosError::Other(format!("service principal {service:?}: {e}")))?;
        let ctx = ClientCtx::new(
            Some(cred),
            name,
            CtxFlags::GSS_C_MUTUAL_FLAG | CtxFlags::GSS_C_SEQUENCE_FLAG,
            Some(&GSS_MECH_KRB5),
        );
        Ok(Initiator {
            ctx,
            service: service.to_string(),
        })
    }
}

fn with_context(e: KerberosError, who: &str) -> KerberosError {
    match e {
        KerberosError::NoTicket(m) => KerberosError::NoTicket(format!("{who}: {m}")),
        KerberosError::WrongKeytab(m) => KerberosError::WrongKeytab(format!("{who}: {m}")),
        KerberosError::Expired(m) => KerberosError::Expired(format!("{who}: {m}")),
        other => other,
    }
}

/// One security context being established, then established.
pub struct Initiator {
    ctx: ClientCtx,
    service: String,
}

impl Initiator {
    /// Feeds the server's token (none at first); the token to send, if any.
    pub fn step(&mut self, server_token: Option<&[u8]>) -> Result<Option<Vec<u8>>, KerberosError> {
        self.ctx
            .step(server_token, None)
            .map(|t| t.map(|b| b.to_vec()))
            .map_err(|e| classify(e, &self.service))
    }

    pub fn is_complete(&self) -> bool {
        self.ctx.is_complete()
    }

    /// GSS_Wrap, for SASL's security layer messages.
    pub fn wrap(&mut self, encrypt: bool, message: &[u8]) -> Result<Vec<u8>, KerberosError> {
        self.ctx
            .wrap(encrypt, message)
            .map(|b| b.to_vec())
            .map_err(|e| classify(e, &self.service))
    }

    /// GSS_Unwrap.
    pub fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>, KerberosError> {
        self.ctx
            .unwrap(message)
            .map(|b| b.to_vec())
            .map_err(|e| classify(e, &self.service))
    }
}

/// `gss_acquire_cred_from` (MIT krb5 ≥ 1.11) for initiating, with an optional principal and a
/// credential store (`client_keytab`, `ccache`); plain `gss_acquire_cred` when the store is
/// empty. The binding has no safe wrapper for credential stores.
fn acquire_from(principal: Option<&str>, store: &[(&str, String)]) -> Result<Cred, GssError> {
    let mechs = OidSet::new().and_then(|mut s| {
        s.add(&GSS_MECH_KRB5)?;
        Ok(s)
    })?;
    if store.is_empty() {
        let name = match principal {
            Some(p) => Some(Name::new(p.as_bytes(), Some(&GSS_NT_KRB5_PRINCIPAL))?),
            None => None,
        };
        return Cred::acquire(name.as_ref(), None, CredUsage::Initiate, Some(&mechs));
    }
    let keys: Vec<(CString, CString)> = store
        .iter()
        .map(|(k, v)| {
            (
                CString::new(*k).expect("a constant key"),
                CString::new(v.as_str()).unwrap_or_default(),
            )
        })
        .collect();
    let mut elements: Vec<sys::gss_key_value_element_desc> = keys
        .iter()
        .map(|(k, v)| sys::gss_key_value_element_desc {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let set = sys::gss_key_value_set_desc {
        count: elements.len() as sys::OM_uint32,
        elements: elements.as_mut_ptr(),
    };
    let mut minor: sys::OM_uint32 = 0;
    let mut name: sys::gss_name_t = std::ptr::null_mut();
    let mut oid = sys::gss_OID_desc {
        length: KRB5_PRINCIPAL_OID.len() as sys::OM_uint32,
        elements: KRB5_PRINCIPAL_OID.as_ptr() as *mut std::ffi::c_void,
    };
    if let Some(p) = principal {
        let mut buf = sys::gss_buffer_desc {
            length: p.len(),
            value: p.as_ptr() as *mut std::ffi::c_void,
        };
        // SAFETY: the buffer and the OID outlive the call; `name` is released below.
        let major = unsafe { sys::gss_import_name(&mut minor, &mut buf, &mut oid, &mut name) };
        if major != 0 {
            return Err(GssError {
                major: MajorFlags::from_bits_retain(major),
                minor,
            });
        }
    }
    let mut cred: sys::gss_cred_id_t = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call (the strings and elements live until the end
    // of this function); on success `cred` is owned by the returned `Cred`.
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            name,
            sys::_GSS_C_INDEFINITE,
            std::ptr::null_mut(),
            sys::GSS_C_INITIATE as sys::gss_cred_usage_t,
            &set,
            &mut cred,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if !name.is_null() {
        let mut m = 0;
        // SAFETY: `name` came from gss_import_name and is released once.
        unsafe { sys::gss_release_name(&mut m, &mut name) };
    }
    if major == 0 {
        Ok(Cred::from(cred))
    } else {
        Err(GssError {
            major: MajorFlags::from_bits_retain(major),
            minor,
        })
    }
}

// Cluster TLS keyring: the private CA that authenticates every node on the cluster port.
//
// Generated once at sys/init (ECDSA P-256, as Vault's raft TLS keyring) and stored in the
// barrier at kClusterTlsPath, so it is replicated and only readable by an unsealed node (or a
// joining node that received it from the leader, encrypted; see raft_ha.cc). Never written to
// disk in the clear. Every node issues itself a short-lived leaf certificate from the CA in
// memory (IssueNodeCert) and requires the peer to present one that chains to the same CA.
//
// Pure functions; safe from any thread. Private keys are secrets: hold them in
// SecureString and never log them.
#pragma once

#include <string>

#include "common/secure.h"
#include "common/status.h"

namespace tresor::ha {

inline constexpr const char* kClusterTlsPath = "core/raft/tls";

struct ClusterKeyring {
  std::string ca_cert_pem;
  SecureString ca_key_pem;
};

struct NodeCert {
  std::string cert_pem;
  SecureString key_pem;
};

// A new self-signed CA (P-256, ECDSA-SHA256, 10 years).
Result<ClusterKeyring> GenerateClusterKeyring();
// JSON {"ca_cert": PEM, "ca_key": PEM} (the value stored in the barrier).
SecureString KeyringToJson(const ClusterKeyring& k);
Result<ClusterKeyring> KeyringFromJson(std::string_view json);
// A fresh leaf key pair and certificate for `node_id`, signed by the keyring's CA (client and
// server auth, valid from one hour ago for one year).
Result<NodeCert> IssueNodeCert(const ClusterKeyring& k, const std::string& node_id);

}  // namespace tresor::ha

//! The guide: how to put the crate into a product, what it protects and
//! what it leaves to the host, and how to run it on each database.
//!
//! Each chapter is a page of its own:
//!
//! - [`integration`]: the endpoints of an MFA API, one call on [`Mfa`](crate::Mfa)
//!   each; passkeys; describing the endpoints with OpenAPI; sessions that carry
//!   their proof.
//! - [`security`]: what is stored and how, backup-code entropy, what the crate
//!   enforces and what is left to the host, imported factors, key rotation.
//! - [`compliance`]: the configuration audited against NIST SP 800-63B-4 and
//!   OWASP ASVS 5.0, with the reports of the default policy and of the preset.
//! - [`storage`]: the stores, their schema, why every guarantee holds across
//!   processes, failures, multi-server deployments; running on PostgreSQL and
//!   on MySQL or MariaDB; testing against database servers.
//! - [`migration`]: importing factors from devise-two-factor, GitLab,
//!   django-otp, Laravel Fortify, ASP.NET Core Identity, Ory Kratos and
//!   otpauth URIs.
//!
//! The design, the store contract and the invariants (I1–I17) are in
//! [`architecture`](crate::architecture).

#[doc = include_str!("integration.md")]
pub mod integration {}

#[doc = include_str!("security.md")]
pub mod security {}

#[doc = include_str!("compliance.md")]
pub mod compliance {}

#[doc = include_str!("storage.md")]
pub mod storage {}

#[doc = include_str!("migration.md")]
pub mod migration {}

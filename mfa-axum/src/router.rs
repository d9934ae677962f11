//! The routers of the MFA routes and their OpenAPI paths.

use axum::routing::{get, patch, post};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::MfaHost;
use crate::login::{__path_login_mfa, login_mfa};
use crate::routes::{factor, operators, passkeys, passwordless, step_up};

/// Every error answer of the paths is a problem document: its content is
/// `application/problem+json`, not the `application/json` that
/// `body = …` gives.
struct ProblemJson;

impl Modify for ProblemJson {
    fn modify(&self, document: &mut Document) {
        for item in document.paths.paths.values_mut() {
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in &mut operation.responses.responses {
                    let error = status.parse::<u16>().is_ok_and(|s| s >= 400);
                    if let (true, RefOr::T(response)) = (error, response)
                        && let Some(content) = response.content.shift_remove("application/json")
                    {
                        response
                            .content
                            .insert("application/problem+json".into(), content);
                    }
                }
            }
        }
    }
}

/// The OpenAPI paths of [`router`] (each under the prefix the host nests it
/// at) and their tags, for the host's document to merge.
#[derive(OpenApi)]
#[openapi(
    paths(factor::status, factor::setup, factor::confirm, factor::regenerate, factor::regenerate_strict,
        factor::disable, factor::replace, factor::confirm_replacement, factor::forget_devices,
        passkeys::options, passkeys::register, passkeys::list, passkeys::rename, passkeys::remove,
        login_mfa, step_up::step_up, step_up::step_up_options),
    tags(
        (name = "mfa", description = "The user's authenticator app, backup codes and remembered devices."),
        (name = "auth", description = "The login's second step and step-up."),
        (name = "passkeys", description = "The user's passkeys."),
    ),
    modifiers(&ProblemJson)
)]
pub struct ApiDoc;

/// The OpenAPI paths of [`passwordless_router`].
#[derive(OpenApi)]
#[openapi(
    paths(passwordless::passwordless_options, passwordless::passwordless),
    modifiers(&ProblemJson)
)]
pub struct PasswordlessApiDoc;

/// The OpenAPI paths of [`operator_router`], and their tag.
#[derive(OpenApi)]
#[openapi(
    paths(operators::unlock, operators::reset, operators::compliance),
    tags((name = "operators", description = "Unlocking and resetting a user's MFA, and the compliance report.")),
    modifiers(&ProblemJson)
)]
pub struct OperatorApiDoc;

/// The MFA routes of a logged-in user and of the login's second step, to
/// nest under the prefix the application chooses (the contract's is
/// `/api`), each with its OpenAPI path. Routes that need a session name the
/// security scheme `session`, which the host's document defines (an HTTP
/// bearer scheme for [`BearerSessions`](crate::BearerSessions), a cookie
/// for [`TowerSessions`](crate::TowerSessions)).
///
/// | route under the prefix | body | answer |
/// |---|---|---|
/// | `GET /user/me/totp` | — | the status (`MfaStatus`) |
/// | `POST /user/me/totp/setup` | `{password}` (beside passkeys, also a recent proof) | `{secret, otpauthUrl, qrCode}` |
/// | `POST /user/me/totp/confirm` | `{code}` | `{success, backupCodes, token}` (beside passkeys no `backupCodes`) |
/// | `POST /user/me/totp/backup-codes/regenerate` | — (a recent proof) | `{success, backupCodes}` |
/// | `POST /user/profile/mfa/backup-codes` | `{password, code}` | `{backup_codes}` |
/// | `POST /user/me/totp/disable` | `{password, code}` (or the password alone on a recent proof) | `{success, token}` |
/// | `POST /user/me/totp/replace` | `{password, code}` (a code of the active app, or a backup code) | `{secret, otpauthUrl, qrCode}` of the new phone |
/// | `POST /user/me/totp/replace/confirm` | `{code}` of the new app | `{success, token}` |
/// | `POST /user/me/devices/forget` | — (a recent proof) | `{success}` |
/// | `POST /user/me/passkeys/options` | `{password}` (while MFA is on, also a recent proof) | `{publicKey}` creation options |
/// | `POST /user/me/passkeys` | `{name, credential}` | 201 `{passkey, token, backupCodes?}` |
/// | `GET /user/me/passkeys` | — | `{passkeys}` |
/// | `PATCH /user/me/passkeys/{id}` | `{name}` | `{passkey}` |
/// | `DELETE /user/me/passkeys/{id}` | — (a recent proof) | `{success, token}` |
/// | `POST /auth/login/mfa` | `{mfaToken, code \| backupCode \| passkey, rememberDevice?}` | `{token, backupCodesRemaining, deviceToken?, newBackupCode?}` |
/// | `POST /auth/step-up` | `{code \| backupCode}` or `{stepUpToken, passkey}` | `{token, newBackupCode?}` |
/// | `POST /auth/step-up/options` | — | `{publicKey, stepUpToken}` |
///
/// `token` is absent where the host's sessions travel as cookies. Errors
/// are [`Problem`](crate::Problem)s.
///
/// ```
/// # #[derive(Clone)] struct Host;
/// # impl mfa_axum::MfaHost for Host {
/// #     type Store = mfa::MemoryStore;
/// #     fn mfa(&self) -> &mfa::Mfa<mfa::MemoryStore> { unimplemented!() }
/// #     fn login_tokens(&self) -> &mfa_axum::LoginTokens { unimplemented!() }
/// #     async fn session(&self, _: &axum::http::request::Parts) -> Result<Option<mfa_axum::SessionState>, mfa_axum::Problem> { Ok(None) }
/// #     async fn issue(&self, _: &axum::http::request::Parts, _: mfa_axum::SessionState) -> Result<Option<String>, mfa_axum::Problem> { Ok(None) }
/// #     async fn check_password(&self, _: &str, _: &str) -> Result<(), mfa_axum::Problem> { Ok(()) }
/// #     async fn account_name(&self, id: &str) -> Result<String, mfa_axum::Problem> { Ok(id.into()) }
/// # }
/// use utoipa_axum::router::OpenApiRouter;
///
/// let (router, document) = OpenApiRouter::<Host>::new()
///     .nest("/api", mfa_axum::router())
///     .split_for_parts();
/// assert!(document.paths.paths.contains_key("/api/auth/login/mfa"));
/// # let _ = router;
/// ```
pub fn router<H: MfaHost>() -> OpenApiRouter<H> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .route("/user/me/totp", get(factor::status::<H>))
        .route("/user/me/totp/setup", post(factor::setup::<H>))
        .route("/user/me/totp/confirm", post(factor::confirm::<H>))
        .route(
            "/user/me/totp/backup-codes/regenerate",
            post(factor::regenerate::<H>),
        )
        .route(
            "/user/profile/mfa/backup-codes",
            post(factor::regenerate_strict::<H>),
        )
        .route("/user/me/totp/disable", post(factor::disable::<H>))
        .route("/user/me/totp/replace", post(factor::replace::<H>))
        .route(
            "/user/me/totp/replace/confirm",
            post(factor::confirm_replacement::<H>),
        )
        .route("/user/me/devices/forget", post(factor::forget_devices::<H>))
        .route("/user/me/passkeys/options", post(passkeys::options::<H>))
        .route(
            "/user/me/passkeys",
            post(passkeys::register::<H>).get(passkeys::list::<H>),
        )
        .route(
            "/user/me/passkeys/{id}",
            patch(passkeys::rename::<H>).delete(passkeys::remove::<H>),
        )
        .route("/auth/login/mfa", post(login_mfa::<H>))
        .route("/auth/step-up", post(step_up::step_up::<H>))
        .route("/auth/step-up/options", post(step_up::step_up_options::<H>))
}

/// The passwordless login, for a host that lets a passkey alone log in
/// (mount it beside [`router`], under the same prefix):
///
/// | route under the prefix | body | answer |
/// |---|---|---|
/// | `POST /auth/passkey/options` | — | `{publicKey, passkeyToken}` |
/// | `POST /auth/passkey` | `{passkeyToken, credential}` | `{token}`: a session with a fresh proof |
///
/// Every refusal but a lockout is the same 401 `INVALID_PASSKEY`.
pub fn passwordless_router<H: MfaHost>() -> OpenApiRouter<H> {
    OpenApiRouter::with_openapi(PasswordlessApiDoc::openapi())
        .route(
            "/auth/passkey/options",
            post(passwordless::passwordless_options::<H>),
        )
        .route("/auth/passkey", post(passwordless::passwordless::<H>))
}

/// The operators' routes, for a host whose [`MfaHost::operator`] names the
/// request's operator (a host without operators does not mount them, so
/// that they do not exist). They name the security scheme `operator`:
///
/// | route under the prefix | body | answer |
/// |---|---|---|
/// | `POST /admin/users/{id}/mfa/unlock` | `{reason}` | `{success}`: the lockout cleared, and the host's own locks ([`MfaHost::operator_unlocked`]) |
/// | `POST /admin/users/{id}/mfa/reset` | `{reason}` | `{success}`: MFA off, every session and `mfaToken` of the user revoked |
/// | `GET /admin/compliance?profile=` | — | `{profile, findings}`: the configuration audited against `nist-800-63b-4-aal2` (the default), `asvs-5.0-l2` or `asvs-5.0-l3`, with [`MfaHost::host_facts`] |
///
/// Errors: 400 `VALIDATION_FAILED` (no reason, or not one line of visible
/// text of at most 512 bytes), 401 `UNAUTHENTICATED` (no operator), 404
/// `NOT_FOUND` (no such user, [`MfaHost::user_exists`]).
pub fn operator_router<H: MfaHost>() -> OpenApiRouter<H> {
    OpenApiRouter::with_openapi(OperatorApiDoc::openapi())
        .route("/admin/users/{id}/mfa/unlock", post(operators::unlock::<H>))
        .route("/admin/users/{id}/mfa/reset", post(operators::reset::<H>))
        .route("/admin/compliance", get(operators::compliance::<H>))
}

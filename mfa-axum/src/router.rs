//! The router of the MFA routes and their OpenAPI paths.

use axum::routing::{get, patch, post};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::MfaHost;
use crate::passkeys;
use crate::routes::{
    __path_confirm, __path_confirm_replacement, __path_disable, __path_forget_devices,
    __path_login_mfa, __path_regenerate, __path_regenerate_strict, __path_replace, __path_setup,
    __path_status, __path_step_up, confirm, confirm_replacement, disable, forget_devices,
    login_mfa, regenerate, regenerate_strict, replace, setup, status, step_up,
};

/// The OpenAPI paths of [`router`] (with `/api` before each, as in the
/// contract), and the schemas they name, for the host's document to merge.
#[derive(OpenApi)]
#[openapi(
    paths(status, setup, confirm, regenerate, regenerate_strict, disable, replace, confirm_replacement, login_mfa, step_up, forget_devices,
        passkeys::options, passkeys::add, passkeys::list, passkeys::rename, passkeys::remove, passkeys::step_up_options,
        passkeys::passwordless_options, passkeys::passwordless),
    components(schemas(mfa::http::ProblemDetails)),
    tags((name = "mfa", description = "The user's second factor."), (name = "auth", description = "The login's second step and step-up."))
)]
pub struct ApiDoc;

/// The MFA routes, to nest under the prefix the application chooses (the
/// contract's is `/api`), with their OpenAPI paths:
///
/// | route | body | answer |
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
/// | `POST /auth/login/mfa` | `{mfaToken, code \| backupCode, rememberDevice?}` | `{token, backupCodesRemaining, deviceToken?, newBackupCode?}` |
/// | `POST /auth/step-up` | `{code \| backupCode}` | `{token, newBackupCode?}` |
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
        .route("/user/me/totp", get(status::<H>))
        .route("/user/me/totp/setup", post(setup::<H>))
        .route("/user/me/totp/confirm", post(confirm::<H>))
        .route(
            "/user/me/totp/backup-codes/regenerate",
            post(regenerate::<H>),
        )
        .route(
            "/user/profile/mfa/backup-codes",
            post(regenerate_strict::<H>),
        )
        .route("/user/me/totp/disable", post(disable::<H>))
        .route("/user/me/totp/replace", post(replace::<H>))
        .route(
            "/user/me/totp/replace/confirm",
            post(confirm_replacement::<H>),
        )
        .route("/user/me/devices/forget", post(forget_devices::<H>))
        .route("/auth/login/mfa", post(login_mfa::<H>))
        .route("/auth/step-up", post(step_up::<H>))
        .route(
            "/auth/step-up/options",
            post(passkeys::step_up_options::<H>),
        )
        .route("/user/me/passkeys/options", post(passkeys::options::<H>))
        .route(
            "/user/me/passkeys",
            post(passkeys::add::<H>).get(passkeys::list::<H>),
        )
        .route(
            "/user/me/passkeys/{id}",
            patch(passkeys::rename::<H>).delete(passkeys::remove::<H>),
        )
        .route(
            "/auth/passkey/options",
            post(passkeys::passwordless_options::<H>),
        )
        .route("/auth/passkey", post(passkeys::passwordless::<H>))
}

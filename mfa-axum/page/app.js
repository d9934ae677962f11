// The MFA page: every flow of the contract's HTTP API, in plain JavaScript.
// On a host whose answers carry a session token, the token lives in this
// script's memory only (never in storage) and goes out as a bearer token; on
// a host whose session is a cookie, the browser sends it (same origin only).
// A remembered device's token is kept in localStorage, per email, and sent
// with the password at the next login. Passkeys go through webauthn.js
// (window.MfaWebAuthn), which speaks the API's JSON forms.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const state = {
    token: null, // the session (bearer) token, in memory only; none with a cookie
    signedIn: false,
    mfaToken: null, // the login challenge between the two steps
    passkeyOptions: null, // the second step's passkey request, if any
    email: "",
    codes: [], // the backup codes on show
  };

  const DEVICE_KEY = "mfa-example.deviceTokens";

  function deviceTokens() {
    try {
      const all = JSON.parse(localStorage.getItem(DEVICE_KEY) || "{}");
      return all && typeof all === "object" ? all : {};
    } catch {
      return {};
    }
  }

  function setDeviceToken(email, token) {
    try {
      const all = deviceTokens();
      if (token) all[email] = token;
      else delete all[email];
      localStorage.setItem(DEVICE_KEY, JSON.stringify(all));
    } catch {
      // Storage may be off: the device is then simply not remembered.
    }
  }

  // ---- messages -------------------------------------------------------

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = !text;
  }

  function notice(text) {
    $("notice").textContent = text || "";
  }

  function clearMessages() {
    showError("");
    notice("");
  }

  /** An error answered by the server: its problem document's `detail`. */
  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && problem.detail) || `The request failed (HTTP ${status}).`);
      this.status = status;
      this.code = problem && problem.code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, { detail: "The server cannot be reached." });
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data || {};
  }

  /**
   * Runs `action` for `button`: the button is busy meanwhile, messages are
   * cleared first, and an error shows its detail in #error. A revoked or
   * missing session ends in the sign-in view.
   */
  async function run(button, action) {
    clearMessages();
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
    try {
      await action();
    } catch (error) {
      showError(error.message || "Something went wrong.");
      if (error instanceof ApiError && state.signedIn &&
          (error.code === "SESSION_REVOKED" || error.code === "UNAUTHENTICATED")) {
        signedOut();
        showError(error.message);
      }
    } finally {
      if (button) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    }
  }

  // ---- views ----------------------------------------------------------

  function show(view, focus) {
    for (const id of ["auth-view", "mfa-view", "account-view"]) {
      $(id).hidden = id !== view;
    }
    if (focus) $(focus).focus();
  }

  function signedOut() {
    state.token = null;
    state.signedIn = false;
    state.mfaToken = null;
    state.passkeyOptions = null;
    $("mfa-passkey-choice").hidden = true;
    $("passkeys").replaceChildren();
    hideCodes();
    $("setup").hidden = true;
    $("replace-setup").hidden = true;
    $("password").value = "";
    show("auth-view");
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  async function refreshStatus() {
    const s = await api("GET", "/api/user/me/totp");
    const methods = s.mfaMethods || [];
    const hasApp = methods.includes("totp");
    const passkeys = s.passkeys ?? 0;
    let text;
    if (s.mfaEnabled) {
      const kinds = [];
      if (hasApp) kinds.push("an authenticator app");
      if (passkeys) kinds.push(plural(passkeys, "passkey", "passkeys"));
      const parts = [
        plural(s.backupCodesRemaining ?? 0, "backup code left", "backup codes left"),
        plural(s.rememberedDevices ?? 0, "remembered device", "remembered devices"),
      ];
      if (s.replacementPending) parts.push("a new authenticator waits for its first code");
      if (s.lockedOut) parts.push("locked after too many wrong codes");
      text = `MFA on (${kinds.join(" and ")}): ${parts.join(", ")}.`;
    } else {
      text = s.pendingSetup
        ? "MFA off: setup begun, waiting for a code from the app."
        : "MFA off.";
    }
    $("status").textContent = state.email ? `${state.email}. ${text}` : text;
    // An app can join passkeys; a set holds one app.
    $("enable-section").hidden = hasApp;
    $("enable-hint").textContent = passkeys
      ? "Add an authenticator app beside your passkeys (after confirming it is you); your backup codes stay."
      : "Protect the account with an authenticator app (Google Authenticator, Aegis, FreeOTP, 1Password, …).";
    $("manage-section").hidden = !s.mfaEnabled;
    $("replace-section").hidden = !hasApp;
    $("step-up-passkey").hidden = !passkeys;
    if (hasApp) $("setup").hidden = true;
    if (!s.replacementPending) $("replace-setup").hidden = true;
    await refreshPasskeys();
  }

  // ---- passkeys -------------------------------------------------------

  function when(time) {
    const date = new Date(time);
    return Number.isNaN(date.getTime()) ? time : date.toLocaleString();
  }

  /** The user's passkeys, one `li` each; names go in as text, never as HTML. */
  async function refreshPasskeys() {
    const { passkeys } = await api("GET", "/api/user/me/passkeys");
    $("passkeys").replaceChildren(...(passkeys || []).map((p) => {
      const item = document.createElement("li");
      item.dataset.id = p.id;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = p.name;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = `added ${when(p.createdAt)}; ` +
        (p.lastUsedAt ? `last used ${when(p.lastUsedAt)}` : "not used yet") +
        (p.backedUp ? "; synced" : "");
      const rename = document.createElement("button");
      rename.type = "button";
      rename.className = "rename secondary";
      rename.textContent = "Rename";
      rename.setAttribute("aria-label", `Rename ${p.name}`);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove danger";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove ${p.name}`);
      item.append(name, meta, rename, remove);
      return item;
    }));
  }

  /** Rename: the first click turns the name into a field, the second saves it. */
  async function renamePasskey(item, button) {
    const field = item.querySelector("input.rename-name");
    if (!field) {
      const name = item.querySelector(".name");
      const input = document.createElement("input");
      input.className = "rename-name";
      input.maxLength = 64;
      input.value = name.textContent;
      input.setAttribute("aria-label", "New name");
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          button.click();
        }
      });
      name.replaceWith(input);
      button.textContent = "Save";
      input.focus();
      input.select();
      return;
    }
    const answer = await api("PATCH", `/api/user/me/passkeys/${encodeURIComponent(item.dataset.id)}`,
      { name: field.value });
    await refreshPasskeys();
    notice(`Renamed to ${answer.passkey.name}.`);
  }

  async function removePasskey(item) {
    const answer = await api("DELETE", `/api/user/me/passkeys/${encodeURIComponent(item.dataset.id)}`);
    state.token = answer.token || null;
    setDeviceToken(state.email, null);
    await refreshStatus();
    notice("The passkey is removed: it no longer signs in.");
  }

  async function signedIn(token) {
    state.token = token || null;
    state.signedIn = true;
    state.mfaToken = null;
    $("mfa-code").value = "";
    $("password").value = "";
    show("account-view");
    await refreshStatus();
    $("account-title").focus();
  }

  // A code from the app (digits, spaces allowed) or a backup code.
  function codeField(value) {
    const compact = value.replace(/\s+/g, "");
    return /^\d+$/.test(compact) ? { code: compact } : { backupCode: compact };
  }

  function formatSecret(secret) {
    return secret.replace(/(.{4})/g, "$1 ").trim();
  }

  function showSetup(answer, qr, secret, container, input) {
    if (typeof answer.qrCode === "string" && answer.qrCode.startsWith("data:image/png;base64,")) {
      $(qr).src = answer.qrCode;
    }
    $(secret).textContent = formatSecret(answer.secret || "");
    $(container).hidden = false;
    $(input).value = "";
    $(input).focus();
  }

  // ---- backup codes ---------------------------------------------------

  // A new set, or (title given) the one code that replaced the code used.
  function showCodes(codes, title) {
    $("codes-title").textContent = title || "Your backup codes";
    state.codes = codes.slice();
    const list = $("backup-codes");
    list.replaceChildren(...codes.map((code) => {
      const item = document.createElement("li");
      item.textContent = code;
      return item;
    }));
    $("codes-section").hidden = false;
    $("codes-title").setAttribute("tabindex", "-1");
    $("codes-title").focus();
  }

  // The server replaced the backup code just used (--policy nist-aal2).
  function showNewCode(answer) {
    if (answer.newBackupCode) {
      showCodes([answer.newBackupCode], "Your new backup code, in place of the one you used");
    }
  }

  function hideCodes() {
    state.codes = [];
    $("backup-codes").replaceChildren();
    $("codes-section").hidden = true;
  }

  function codesText() {
    return `Backup codes for ${state.email || "your account"}\n` +
      "Each code works once.\n\n" + state.codes.join("\n") + "\n";
  }

  // ---- wiring ---------------------------------------------------------

  function init() {
    $("account-title").setAttribute("tabindex", "-1");

    $("auth-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const register = event.submitter && event.submitter.id === "register";
      const button = register ? $("register") : $("login");
      run(button, async () => {
        const email = $("email").value.trim().toLowerCase();
        const password = $("password").value;
        if (!email || !password) throw new Error("Enter an email address and a password.");
        state.email = email;
        if (register) {
          await api("POST", "/api/auth/register", { email, password });
        }
        const body = { email, password };
        const device = deviceTokens()[email];
        if (device && !register) body.deviceToken = device;
        const answer = await api("POST", "/api/auth/login", body);
        if (answer.mfaRequired) {
          state.mfaToken = answer.mfaToken;
          state.passkeyOptions = answer.passkeyOptions || null;
          $("mfa-passkey-choice").hidden = !state.passkeyOptions;
          $("password").value = "";
          $("mfa-code").value = "";
          show("mfa-view", state.passkeyOptions ? "mfa-passkey" : "mfa-code");
        } else {
          await signedIn(answer.token);
          notice(register ? "Account created; you are signed in." : "Signed in.");
        }
      });
    });

    // The second step, with a code or a passkey.
    async function secondStep(proof) {
      const remember = $("remember-device").checked;
      const body = { mfaToken: state.mfaToken, ...proof };
      if (remember) body.rememberDevice = true;
      const answer = await api("POST", "/api/auth/login/mfa", body);
      if (answer.deviceToken) setDeviceToken(state.email, answer.deviceToken);
      await signedIn(answer.token);
      showNewCode(answer);
      notice(remember && answer.deviceToken
        ? "Signed in. This device is remembered."
        : "Signed in.");
    }

    $("mfa-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run($("submit-mfa"), async () => {
        const value = $("mfa-code").value.trim();
        if (!value) throw new Error("Enter a code.");
        await secondStep(codeField(value));
      });
    });

    $("mfa-passkey").addEventListener("click", (event) => {
      run(event.currentTarget, async () => {
        const passkey = await window.MfaWebAuthn.get(state.passkeyOptions);
        await secondStep({ passkey });
      });
    });

    $("passkey-login").addEventListener("click", (event) => {
      run(event.currentTarget, async () => {
        let options;
        try {
          options = await api("POST", "/api/auth/passkey/options");
        } catch (error) {
          if (error.status === 404) throw new Error("This server does not sign in with a passkey alone: log in with the password.");
          throw error;
        }
        const credential = await window.MfaWebAuthn.get(options);
        const answer = await api("POST", "/api/auth/passkey",
          { passkeyToken: options.passkeyToken, credential });
        state.email = "";
        await signedIn(answer.token);
        notice("Signed in with a passkey.");
      });
    });

    $("passkey-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run($("add-passkey"), async () => {
        const name = $("passkey-name").value.trim();
        const password = $("passkey-password").value;
        if (!name || !password) throw new Error("Enter a name for the passkey and your password.");
        const options = await api("POST", "/api/user/me/passkeys/options", { password });
        $("passkey-password").value = "";
        const credential = await window.MfaWebAuthn.create(options);
        const answer = await api("POST", "/api/user/me/passkeys", { name, credential });
        state.token = answer.token || null;
        $("passkey-name").value = "";
        await refreshStatus();
        if (answer.backupCodes) showCodes(answer.backupCodes);
        notice(answer.backupCodes
          ? "The passkey is added and MFA is on. Keep the backup codes below."
          : "The passkey is added.");
      });
    });

    $("passkeys").addEventListener("click", (event) => {
      const button = event.target.closest("button");
      const item = button && button.closest("li");
      if (!item) return;
      if (button.classList.contains("rename")) run(button, () => renamePasskey(item, button));
      if (button.classList.contains("remove")) run(button, () => removePasskey(item));
    });

    $("cancel-mfa").addEventListener("click", () => {
      clearMessages();
      signedOut();
      $("email").focus();
    });

    $("enable-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run($("enable-mfa"), async () => {
        const password = $("setup-password").value;
        if (!password) throw new Error("Enter your password.");
        const answer = await api("POST", "/api/user/me/totp/setup", { password });
        $("setup-password").value = "";
        showSetup(answer, "qr", "secret", "setup", "confirm-code");
        await refreshStatus();
      });
    });

    $("confirm-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run($("confirm"), async () => {
        const code = $("confirm-code").value.replace(/\s+/g, "");
        if (!code) throw new Error("Enter the code the app shows.");
        const answer = await api("POST", "/api/user/me/totp/confirm", { code });
        state.token = answer.token || null;
        $("setup").hidden = true;
        $("qr").removeAttribute("src");
        $("secret").textContent = "";
        await refreshStatus();
        // Beside passkeys the set's codes stay: none are answered.
        if (answer.backupCodes) {
          showCodes(answer.backupCodes);
          notice("MFA is on.");
        } else {
          notice("The authenticator app is added; your backup codes stay as they were.");
        }
      });
    });

    $("copy-codes").addEventListener("click", (event) => {
      run(event.currentTarget, async () => {
        if (!navigator.clipboard) throw new Error("Copying is not available here: select the codes and copy them.");
        try {
          await navigator.clipboard.writeText(state.codes.join("\n"));
        } catch {
          throw new Error("The browser did not allow copying: select the codes and copy them.");
        }
        notice("Backup codes copied.");
      });
    });

    $("download-codes").addEventListener("click", () => {
      clearMessages();
      const blob = new Blob([codesText()], { type: "text/plain" });
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = "mfa-backup-codes.txt";
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      notice("Backup codes downloaded as mfa-backup-codes.txt.");
    });

    $("codes-done").addEventListener("click", () => {
      clearMessages();
      hideCodes();
      $("account-title").focus();
    });

    $("step-up-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run($("step-up"), async () => {
        const value = $("step-up-code").value.trim();
        if (!value) throw new Error("Enter a code.");
        const answer = await api("POST", "/api/auth/step-up", codeField(value));
        state.token = answer.token || null;
        $("step-up-code").value = "";
        await refreshStatus();
        showNewCode(answer);
        notice("Confirmed: for the next few minutes you can manage MFA without a code.");
      });
    });

    $("step-up-passkey").addEventListener("click", (event) => {
      run(event.currentTarget, async () => {
        const options = await api("POST", "/api/auth/step-up/options");
        const passkey = await window.MfaWebAuthn.get(options);
        const answer = await api("POST", "/api/auth/step-up",
          { stepUpToken: options.stepUpToken, passkey });
        state.token = answer.token || null;
        await refreshStatus();
        notice("Confirmed: for the next few minutes you can manage MFA without a code.");
      });
    });

    $("regenerate").addEventListener("click", (event) => {
      run(event.currentTarget, async () => {
        const answer = await api("POST", "/api/user/me/totp/backup-codes/regenerate");
        await refreshStatus();
        showCodes(answer.backupCodes || []);
        notice("New backup codes: the earlier ones no longer work.");
      });
    });

    $("forget-devices").addEventListener("click", (event) => {
      run(event.currentTarget, async () => {
        await api("POST", "/api/user/me/devices/forget");
        setDeviceToken(state.email, null);
        await refreshStatus();
        notice("Every remembered device is forgotten.");
      });
    });

    $("replace-begin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run($("replace"), async () => {
        const password = $("replace-password").value;
        const code = $("replace-code").value.trim();
        if (!password || !code) throw new Error("Enter your password and a code.");
        const answer = await api("POST", "/api/user/me/totp/replace", { password, code });
        $("replace-password").value = "";
        $("replace-code").value = "";
        showSetup(answer, "replace-qr", "replace-secret", "replace-setup", "replace-confirm-code");
        await refreshStatus();
      });
    });

    $("replace-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run($("replace-confirm"), async () => {
        const code = $("replace-confirm-code").value.replace(/\s+/g, "");
        if (!code) throw new Error("Enter the code the new app shows.");
        const answer = await api("POST", "/api/user/me/totp/replace/confirm", { code });
        state.token = answer.token || null;
        setDeviceToken(state.email, null);
        $("replace-setup").hidden = true;
        $("replace-qr").removeAttribute("src");
        $("replace-secret").textContent = "";
        await refreshStatus();
        notice("The new authenticator app is in use; the old one no longer works.");
      });
    });

    $("disable-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run($("disable"), async () => {
        const password = $("disable-password").value;
        const code = $("disable-code").value.replace(/\s+/g, "");
        if (!password) throw new Error("Enter your password.");
        // Without a code the session's recent confirmation stands in for it.
        const body = code ? { password, code } : { password };
        const answer = await api("POST", "/api/user/me/totp/disable", body);
        state.token = answer.token || null;
        setDeviceToken(state.email, null);
        $("disable-password").value = "";
        $("disable-code").value = "";
        hideCodes();
        await refreshStatus();
        notice("MFA is off.");
      });
    });

    $("logout").addEventListener("click", async () => {
      clearMessages();
      // A cookie session ends at the application's POST /api/auth/logout; a
      // bearer session ends with its token, forgotten here.
      const cookie = state.signedIn && !state.token;
      signedOut();
      if (cookie) await api("POST", "/api/auth/logout").catch(() => {});
      notice("Signed out.");
      $("email").focus();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

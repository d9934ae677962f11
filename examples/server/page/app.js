// The example server's page: every flow of its HTTP API, in plain JavaScript.
// The session token lives in this script's memory only (never in a cookie or
// in storage); a remembered device's token is kept in localStorage, per email,
// and sent with the password at the next login.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const state = {
    token: null, // the session (bearer) token, in memory only
    mfaToken: null, // the login challenge between the two steps
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
        credentials: "omit",
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
      if (error instanceof ApiError && state.token &&
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
    state.mfaToken = null;
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
    let text;
    if (s.mfaEnabled) {
      const parts = [
        plural(s.backupCodesRemaining ?? 0, "backup code left", "backup codes left"),
        plural(s.rememberedDevices ?? 0, "remembered device", "remembered devices"),
      ];
      if (s.replacementPending) parts.push("a new authenticator waits for its first code");
      if (s.lockedOut) parts.push("locked after too many wrong codes");
      text = `MFA on: ${parts.join(", ")}.`;
    } else {
      text = s.pendingSetup
        ? "MFA off: setup begun, waiting for a code from the app."
        : "MFA off.";
    }
    $("status").textContent = state.email ? `${state.email}. ${text}` : text;
    $("enable-section").hidden = !!s.mfaEnabled;
    $("manage-section").hidden = !s.mfaEnabled;
    if (s.mfaEnabled) $("setup").hidden = true;
    if (!s.replacementPending) $("replace-setup").hidden = true;
  }

  async function signedIn(token) {
    state.token = token;
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

  function showCodes(codes) {
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
          $("password").value = "";
          $("mfa-code").value = "";
          show("mfa-view", "mfa-code");
        } else {
          await signedIn(answer.token);
          notice(register ? "Account created; you are signed in." : "Signed in.");
        }
      });
    });

    $("mfa-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run($("submit-mfa"), async () => {
        const value = $("mfa-code").value.trim();
        if (!value) throw new Error("Enter a code.");
        const remember = $("remember-device").checked;
        const body = { mfaToken: state.mfaToken, ...codeField(value) };
        if (remember) body.rememberDevice = true;
        const answer = await api("POST", "/api/auth/login/mfa", body);
        if (answer.deviceToken) setDeviceToken(state.email, answer.deviceToken);
        await signedIn(answer.token);
        notice(remember && answer.deviceToken
          ? "Signed in. This device is remembered."
          : "Signed in.");
      });
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
        state.token = answer.token;
        $("setup").hidden = true;
        $("qr").removeAttribute("src");
        $("secret").textContent = "";
        await refreshStatus();
        showCodes(answer.backupCodes || []);
        notice("MFA is on.");
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
        state.token = answer.token;
        $("step-up-code").value = "";
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
        state.token = answer.token;
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
        if (!password || !code) throw new Error("Enter your password and a code.");
        const answer = await api("POST", "/api/user/me/totp/disable", { password, code });
        state.token = answer.token;
        setDeviceToken(state.email, null);
        $("disable-password").value = "";
        $("disable-code").value = "";
        hideCodes();
        await refreshStatus();
        notice("MFA is off.");
      });
    });

    $("logout").addEventListener("click", () => {
      clearMessages();
      signedOut();
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

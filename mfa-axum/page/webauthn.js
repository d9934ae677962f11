// WebAuthn in the JSON forms the server speaks, with nothing but
// navigator.credentials: options arrive as PublicKeyCredentialCreationOptionsJSON
// or PublicKeyCredentialRequestOptionsJSON (binary members base64url), and
// credentials go back as PublicKeyCredential.toJSON() gives them. Browsers
// that lack the JSON helpers get a small base64url codec instead.
"use strict";

window.MfaWebAuthn = (() => {
  function decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function encode(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  const descriptors = (list) =>
    (list || []).map((c) => ({ ...c, id: decode(c.id) }));

  function creationOptions(json) {
    const parse = window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON;
    if (parse) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    return {
      ...json,
      challenge: decode(json.challenge),
      user: { ...json.user, id: decode(json.user.id) },
      excludeCredentials: descriptors(json.excludeCredentials),
    };
  }

  function requestOptions(json) {
    const parse = window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON;
    if (parse) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    return {
      ...json,
      challenge: decode(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    };
  }

  function toJSON(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: encode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = encode(r.attestationObject);
      if (typeof r.getTransports === "function") response.transports = r.getTransports();
    }
    if (r.authenticatorData) {
      response.authenticatorData = encode(r.authenticatorData);
      response.signature = encode(r.signature);
      if (r.userHandle) response.userHandle = encode(r.userHandle);
    }
    const json = {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
    if (credential.authenticatorAttachment) {
      json.authenticatorAttachment = credential.authenticatorAttachment;
    }
    return json;
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  /** The browser's refusal, in words for the user. */
  function refusal(error) {
    switch (error && error.name) {
      case "NotAllowedError":
        return new Error("No passkey was used: the request was cancelled or timed out, or the device did not verify you.");
      case "InvalidStateError":
        return new Error("This device already holds a passkey for this account.");
      case "SecurityError":
        return new Error("Passkeys do not work at this address: open the page at the server's origin (such as http://localhost:8080).");
      default:
        return new Error(`The passkey could not be used (${(error && error.message) || error}).`);
    }
  }

  /** A new credential for creation options `{publicKey}`, as JSON. */
  async function create(options) {
    if (!supported()) throw new Error("This browser cannot use passkeys here.");
    let credential;
    try {
      credential = await navigator.credentials.create({
        publicKey: creationOptions(options.publicKey),
      });
    } catch (error) {
      throw refusal(error);
    }
    return toJSON(credential);
  }

  /** An assertion for request options `{publicKey}`, as JSON. */
  async function get(options) {
    if (!supported()) throw new Error("This browser cannot use passkeys here.");
    let credential;
    try {
      credential = await navigator.credentials.get({
        publicKey: requestOptions(options.publicKey),
      });
    } catch (error) {
      throw refusal(error);
    }
    return toJSON(credential);
  }

  return { create, get, supported };
})();

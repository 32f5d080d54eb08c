// Assent pages: calls to the JSON API under /v1, the session's CSRF token, the words for
// refusals, and the live wait for a sign-in's result. No framework, no inline script.
'use strict';

window.Assent = (() => {
  let csrf = '';

  // call sends a JSON request to the API and returns the decoded answer. A refusal throws an
  // Error with the server's status, stable code and sentence.
  async function call(method, path, body, headers) {
    const h = Object.assign({ Accept: 'application/json' }, headers || {});
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (method !== 'GET' && csrf) h['X-CSRF-Token'] = csrf;
    const resp = await fetch(path, {
      method, headers: h, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const type = resp.headers.get('Content-Type') || '';
    let data = null;
    if (resp.status !== 204) data = type.includes('json') ? await resp.json() : await resp.text();
    if (!resp.ok) {
      const err = new Error((data && data.message) || resp.statusText);
      err.status = resp.status;
      err.code = (data && data.code) || 'http_' + resp.status;
      err.retryAfter = parseInt(resp.headers.get('Retry-After') || '0', 10);
      throw err;
    }
    return data;
  }

  // session returns the signed-in session (and keeps its CSRF token), or null. It asks the
  // server once per page: the navigation and the page's script share the answer.
  let current = null;
  function session() {
    if (!current) {
      current = (async () => {
        try {
          const s = await call('GET', '/v1/session');
          csrf = s.csrf_token;
          return s;
        } catch (err) {
          if (err.status === 401) return null;
          throw err;
        }
      })();
    }
    return current;
  }

  // The navigation shows what fits: Home, Security and Sign out to a signed-in person, Sign
  // in and Create an account to anyone else. Until the session is known it shows neither.
  async function navigation() {
    let s = null;
    try { s = await session(); } catch (err) { return; }
    for (const li of document.querySelectorAll('[data-nav]')) {
      li.hidden = li.dataset.nav !== (s ? 'in' : 'out');
    }
    // On the sign-in and registration pages, a signed-in person is told so and given the way
    // to the account; not when an app asked for a fresh sign-in (?oidc=).
    const note = document.getElementById('signed-in-note');
    if (note && s && !new URLSearchParams(window.location.search).has('oidc')) {
      document.getElementById('signed-in-email').textContent = s.email;
      note.hidden = false;
    }
    const out = document.getElementById('signout');
    if (out) out.addEventListener('click', signOut);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', navigation);
  } else {
    navigation();
  }

  // requireSession returns the session, or sends the person to the sign-in page. A session
  // that must set up a new second factor (after the help desk's reset) is sent to the
  // security page, the one page it may use until then.
  async function requireSession() {
    const s = await session();
    if (!s) {
      window.location.assign('/signin');
      return null;
    }
    if (s.enrollment_required && window.location.pathname !== '/security') {
      window.location.assign('/security');
      return null;
    }
    return s;
  }

  async function signOut() {
    try { await call('DELETE', '/v1/session'); } catch (err) { /* signed out already */ }
    window.location.assign('/signin');
  }

  // words tells a refusal in plain words.
  function words(err) {
    switch (err.code) {
      case 'wrong_credentials': return 'The email address or the password is wrong.';
      case 'locked':
        return err.retryAfter > 0
          ? `Too many failed attempts: this is paused for ${Math.ceil(err.retryAfter / 60)} minutes. Try again then.`
          : 'Too many failed attempts: this is paused for a while. Try again later.';
      case 'rate_limited':
        return err.retryAfter > 0
          ? `Too many attempts. Wait ${err.retryAfter} seconds and try again.`
          : 'Too many attempts. Wait a moment and try again.';
      case 'wrong_code': return 'That code is not right. Check it and try again.';
      case 'code_reused': return 'That code has already been used. Wait for the next code, or use a backup code.';
      case 'challenge_expired': return 'This sign-in request has expired. Sign in again.';
      case 'challenge_locked': return 'Too many failed attempts ended this sign-in request, and the second factor is locked for a while. Try again later.';
      case 'challenge_superseded': return 'A newer sign-in request replaced this one. Sign in again.';
      case 'challenge_redeemed': return 'This sign-in has already been used. Sign in again.';
      case 'last_second_factor': return 'This is your last second factor. To remove it, turn two-factor authentication off below: confirm with your password and your second factor.';
      case 'unauthenticated': return 'Your session has ended. Sign in again.';
      case 'wrong_password': return 'The current password is not right.';
      case 'invalid_password': return 'The new password needs 8 to 1024 characters.';
      case 'session_not_found': return 'That session has ended already.';
      case 'push_not_paused': return 'Sign-in requests are not paused any more.';
      case 'second_factor_required': return 'That did not confirm your second factor. Start again with your password.';
      case 'csrf_failed': return 'This page is out of date. Reload it and try again.';
      case 'enrollment_required': return 'Your help desk reset your second factor: set up a new one on this page first.';
      default:
        if (err instanceof TypeError) return 'The server cannot be reached. Check your connection and try again.';
        return err.message || 'Something went wrong. Please try again.';
    }
  }

  // outcomes are the final states of a sign-in that did not let the person in.
  const outcomes = {
    denied: ['Sign-in denied', 'You answered No on your device, so this sign-in was refused. If that was a mistake, sign in again.'],
    fraud_reported: ['Sign-in refused and reported', 'You said on your device that this sign-in was not you. It was refused and recorded, and requests to your device are paused for a while. If someone else knows your password, change it.'],
    expired: ['Sign-in request expired', 'Nobody answered the request on your device in time. Sign in again to get a new one.'],
    // A newer sign-in replaced the request, or failed attempts locked the second factor (the
    // outcome does not say which).
    cancelled: ['Sign-in request ended', 'A newer sign-in to this account replaced this request, or too many failed attempts ended it and locked the second factor for a while. Sign in again.'],
  };

  // awaitLogin follows a pending sign-in on its result stream (Server-Sent Events) and calls
  // onFinal once with its final status. If the stream cannot be held it long-polls instead.
  // It returns a function that stops waiting. The login token travels only in the
  // X-Login-Token header: the stream's URL carries a one-minute ticket for this challenge.
  function awaitLogin(challengeID, loginToken, onFinal, onTrouble) {
    let stopped = false;
    let es = null;
    const base = '/v1/logins/' + encodeURIComponent(challengeID);
    const finish = (st) => {
      if (stopped || !st || st.status === 'pending') return;
      stopped = true;
      if (es) es.close();
      onFinal(st);
    };
    const poll = async () => {
      while (!stopped) {
        try {
          finish(await call('GET', base + '?wait=25s', undefined, { 'X-Login-Token': loginToken }));
        } catch (err) {
          if (err.status && err.status < 500) { stopped = true; if (onTrouble) onTrouble(err); return; }
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    };
    const listen = async () => {
      let t;
      try {
        t = await call('POST', base + '/ticket', undefined, { 'X-Login-Token': loginToken });
      } catch (err) {
        if (err.status && err.status < 500) { stopped = true; if (onTrouble) onTrouble(err); return; }
        poll();
        return;
      }
      if (stopped) return;
      es = new EventSource(base + '/events?ticket=' + encodeURIComponent(t.ticket));
      es.addEventListener('status', (ev) => finish(JSON.parse(ev.data)));
      es.onerror = () => {
        // The browser reconnects by itself while the stream is CONNECTING; a closed stream
        // was refused (its ticket may have expired since it opened), so fall back to
        // long-polling with the header, which reports a refusal in words.
        if (es.readyState === EventSource.CLOSED && !stopped) poll();
      };
    };
    if (window.EventSource) {
      listen();
    } else {
      poll();
    }
    return () => { stopped = true; if (es) es.close(); };
  }

  // downloadURL is a data: URL of a text file, for a link with a download attribute. (A
  // data: URL rather than a blob: URL: the policy lets the page fetch only its own origin.)
  function downloadURL(text) {
    return 'data:text/plain;charset=utf-8,' + encodeURIComponent(text);
  }

  // backupCodesText is the text file of a set of backup codes: the codes shown, nothing else.
  function backupCodesText(codes) {
    return 'Assent backup codes, saved ' + new Date().toUTCString() +
      '.\nEach code works once. Keep them somewhere safe.\n\n' + codes.join('\n') + '\n';
  }

  function focus(el) { if (el) el.focus(); }

  // showNotices tells, in the page's #desk-notices section, what the help desk did to the
  // account (the session's notices), until the person marks them read.
  function showNotices(s) {
    const box = document.getElementById('desk-notices');
    if (!box || !s || !s.notices || s.notices.length === 0) return;
    const at = (iso) => { const d = new Date(iso); return isNaN(d) ? iso : d.toLocaleString(); };
    const text = {
      bypass_codes_issued: (n) => `On ${at(n.at)}, the help desk gave you bypass codes to sign in without your phone. They work until ${at(n.until)}.`,
      second_factor_reset: (n) => `On ${at(n.at)}, the help desk reset your two-factor authentication: your devices, authenticator apps and backup codes no longer work. Set up a new second factor on the security page by ${at(n.until)}.`,
      unlocked: (n) => `On ${at(n.at)}, the help desk unlocked your account.`,
      disabled: (n) => `On ${at(n.at)}, the help desk disabled your account.`,
      enabled: (n) => `On ${at(n.at)}, the help desk enabled your account again.`,
    };
    const list = document.getElementById('desk-list');
    list.textContent = '';
    for (const n of s.notices) {
      const li = document.createElement('li');
      li.textContent = (text[n.action] || ((x) => `On ${at(x.at)}, the help desk changed your account.`))(n);
      list.appendChild(li);
    }
    box.hidden = false;
    document.getElementById('desk-seen').addEventListener('click', async () => {
      try {
        await call('POST', '/v1/session/notices/seen');
        box.hidden = true;
      } catch (err) {
        document.getElementById('desk-error').textContent = words(err);
      }
    }, { once: true });
  }

  return { call, session, requireSession, signOut, words, outcomes, awaitLogin, downloadURL, backupCodesText, focus, showNotices };
})();

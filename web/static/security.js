// The security page: activate or add the Assent app (QR code, live "device linked"), an
// authenticator app, backup codes shown once, the devices and apps with Rename and Remove,
// paused sign-in requests and their resumption, the account's sessions with Sign out (kept
// up to date live), the change of password, the history with each device's signature checked,
// turning 2FA off, and deleting the
// account.
'use strict';

(async () => {
  const $ = (id) => document.getElementById(id);
  let sess = null;
  let view = null;
  const removedHere = new Set(); // devices this page removed: it has said so already
  let live = false;

  function say(text) { $('sec-status').textContent = text; }
  let gone = false; // the account was deleted from this page: nothing more to load
  function fail(err) { if (!gone) $('sec-error').textContent = Assent.words(err); }
  function clearError() { $('sec-error').textContent = ''; }

  function item(text, detail) {
    const li = document.createElement('li');
    const span = document.createElement('span');
    const name = document.createElement('span');
    name.className = 'item-name';
    name.textContent = text;
    span.appendChild(name);
    if (detail) {
      const small = document.createElement('span');
      small.className = 'item-detail';
      small.textContent = detail;
      span.appendChild(small);
    }
    li.appendChild(span);
    return li;
  }

  function when(iso) {
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }

  function render(v) {
    const before = view;
    view = v;
    const on = v.mfa_enabled;
    $('mfa-summary').textContent = on ? 'Two-factor authentication is on.' : 'Two-factor authentication is off.';
    $('mfa-summary').className = 'summary badge' + (on ? ' on' : '');
    $('add-heading').textContent = on ? 'Add an option' : 'Activate two-factor authentication';
    $('add-text').textContent = on
      ? 'Add another device with the Assent app, or a standard authenticator app.'
      : 'After your password, approve each sign-in on your phone, or type a code from it.';
    $('link-app').textContent = on ? 'Add a device with the Assent app' : 'Activate with the Assent app';
    $('add-totp').textContent = on ? 'Add an authenticator app' : 'Activate with an authenticator app';

    const devices = $('device-list');
    devices.replaceChildren();
    for (const d of v.devices) {
      const li = item(d.name, (d.method === 'phone' ? 'Linked from the phone ' : 'Linked ') + when(d.linked_at));
      const remove = button('Remove', 'danger-quiet', 'Remove ' + d.name, () => removeDevice(d));
      remove.dataset.device = d.id;
      li.appendChild(buttons([
        button('Rename', 'secondary', 'Rename ' + d.name, () => rename(li, d.name, '/v1/security/devices/' + encodeURIComponent(d.id), 'devices-heading')),
        remove,
      ]));
      devices.appendChild(li);
    }
    $('devices-empty').hidden = v.devices.length > 0;

    const apps = $('app-list');
    apps.replaceChildren();
    for (const a of v.totp_apps) {
      const name = a.name || 'Authenticator app';
      const li = item(name, a.confirmed ? 'Added ' + when(a.added_at) : 'Not confirmed yet');
      li.appendChild(buttons([
        button('Rename', 'secondary', 'Rename ' + name, () => rename(li, name, '/v1/security/totp-apps/' + encodeURIComponent(a.id), 'apps-heading')),
        button('Remove', 'danger-quiet', 'Remove ' + name, () => removeApp(a, name)),
      ]));
      apps.appendChild(li);
    }
    $('apps-empty').hidden = v.totp_apps.length > 0;

    const until = v.muted_until ? new Date(v.muted_until) : null;
    const paused = until && until > new Date();
    $('paused').hidden = !paused;
    if (paused) {
      $('paused-text').textContent = 'After a sign-in request was reported as not made by you, no request is sent to your devices until ' + when(v.muted_until) + '.';
    }

    $('backup-left').textContent = v.backup_codes_left === 1
      ? '1 unused backup code left.'
      : v.backup_codes_left + ' unused backup codes left.';
    $('backup-on').hidden = !on;
    $('backup-off').hidden = on;
    $('disable-section').hidden = !on;
    $('toc-disable').hidden = !on;
    $('security').hidden = false;
    return before;
  }

  function button(text, cls, label, onclick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = cls;
    b.textContent = text;
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', onclick);
    return b;
  }

  function buttons(list) {
    const div = document.createElement('div');
    div.className = 'item-actions';
    for (const b of list) div.appendChild(b);
    return div;
  }

  async function load() {
    const before = render(await Assent.call('GET', '/v1/security'));
    await Promise.all([loadSessions(), loadHistory()]);
    return before;
  }

  // The history: each sign-in or request, how it was answered, its outcome, and for an
  // answer on a device whether the server verified the device's signature.
  const outcomes = {
    pending: 'Waiting for an answer',
    approved: 'Approved',
    denied: 'Denied',
    fraud_reported: 'Reported as not you',
    expired: 'Expired without an answer',
    completed_totp: 'Passed with a code',
    completed_backup_code: 'Passed with a code',
  };
  const cancelled = {
    superseded: 'Cancelled: a newer sign-in replaced it',
    abandoned: 'Cancelled',
    mfa_disabled: 'Cancelled: two-factor authentication was turned off',
    locked: 'Locked: too many failed attempts',
  };
  function actor(x, fallback) { return x && x.name ? x.name : fallback; }
  function how(e) {
    const dev = actor(e.by, 'a device no longer linked');
    switch (e.method) {
      case 'push_approve': return 'approved on ' + dev;
      case 'push_deny': return 'denied on ' + dev;
      case 'push_fraud': return '"This wasn\'t me" on ' + dev;
      case 'device_code': return 'with a code from ' + dev;
      case 'totp_app': return 'with a code from ' + actor(e.by, 'an authenticator app');
      case 'backup_code': return 'with a backup code';
      case 'bypass_code': return 'with a help desk bypass code';
      case 'password': return 'with the password alone: no second factor was set up';
    }
    return '';
  }
  function what(e) {
    if (e.kind === 'sign_in') return 'Signed in';
    if (e.linking_device) return 'Linking ' + e.linking_device;
    if (e.app) return 'Request from ' + e.app;
    switch (e.redeemed) {
      case 'disable_mfa': return 'Turning off two-factor authentication';
      case 'phone_link': return 'Linking a device from the phone';
      case 'resume_push': return 'Resuming sign-in requests';
    }
    return 'Sign-in';
  }
  async function loadHistory() {
    let history;
    try {
      ({ history } = await Assent.call('GET', '/v1/security/history'));
    } catch (err) {
      if (!gated(err, $('history-list'))) throw err;
      $('history-empty').hidden = true;
      return;
    }
    const list = $('history-list');
    list.replaceChildren();
    for (const e of history) {
      const outcome = e.state === 'cancelled' ? (cancelled[e.cancel_reason] || 'Cancelled') : (outcomes[e.state] || e.state);
      const where = e.browser + ' from ' + e.ip + (e.place ? ' (' + e.place + ')' : '');
      const li = item(e.kind === 'sign_in' ? 'Signed in' : what(e) + ': ' + outcome, when(e.at) + ' · ' + where);
      const facts = [];
      const by = how(e);
      if (by) facts.push(by.charAt(0).toUpperCase() + by.slice(1));
      if (e.pushed_to.length) facts.push('sent to ' + e.pushed_to.map((d) => actor(d, 'a device no longer linked')).join(', '));
      if (e.number_mismatches) facts.push(e.number_mismatches + ' wrong number' + (e.number_mismatches > 1 ? 's' : '') + ' typed first');
      if (facts.length) {
        const more = document.createElement('span');
        more.className = 'item-detail';
        more.textContent = facts.join(' · ');
        li.firstChild.appendChild(more);
      }
      li.dataset.state = e.state;
      li.dataset.method = e.method || '';
      if (e.signature) {
        const badge = document.createElement('span');
        badge.className = 'badge ' + (e.signature === 'verified' ? 'on' : 'bad');
        badge.textContent = e.signature === 'verified' ? 'Signature verified' : 'Signature does not verify';
        badge.dataset.signature = e.signature;
        li.appendChild(badge);
      }
      list.appendChild(li);
    }
    $('history-empty').hidden = history.length > 0;
  }

  // rename turns an item into a small form for its new name.
  let renames = 0;
  function rename(li, name, path, heading) {
    clearError();
    const id = 'rename-' + (++renames);
    const form = document.createElement('form');
    form.noValidate = true;
    const field = document.createElement('div');
    field.className = 'field';
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = 'New name for ' + name;
    const input = document.createElement('input');
    input.id = id;
    input.type = 'text';
    input.maxLength = 64;
    input.required = true;
    input.value = name;
    field.append(label, input);
    const save = document.createElement('button');
    save.type = 'submit';
    save.textContent = 'Save';
    const cancel = button('Cancel', 'secondary', null, async () => { await load(); Assent.focus($(heading)); });
    form.append(field, save, cancel);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const next = input.value.trim();
      if (!next) { fail({ code: 'invalid_request', message: 'Enter a name.' }); Assent.focus(input); return; }
      try {
        await Assent.call('PATCH', path, { name: next });
        await load();
        say('Renamed ' + name + ' to ' + next + '.');
        Assent.focus($(heading));
      } catch (err) {
        fail(err);
        Assent.focus(input);
      }
    });
    li.replaceChildren(form);
    Assent.focus(input);
    input.select();
  }

  async function removeApp(a, name) {
    clearError();
    try {
      await Assent.call('DELETE', '/v1/security/totp-apps/' + encodeURIComponent(a.id));
      await load();
      say('Removed ' + name + '.');
      Assent.focus($('apps-heading'));
    } catch (err) {
      fail(err);
      if (err.code === 'last_second_factor') Assent.focus($('disable-password'));
    }
  }

  // The account's sessions: this one first among equals, each other with Sign out.
  // gated tells, in a section, that it opens once a new second factor is set up (after the
  // help desk's reset); it returns false for any other refusal, which the caller throws.
  function gated(err, list) {
    if (err.code !== 'enrollment_required') return false;
    list.replaceChildren(item('Set up a new second factor above first: your help desk reset the old one.'));
    return true;
  }

  async function loadSessions() {
    let sessions;
    try {
      ({ sessions } = await Assent.call('GET', '/v1/security/sessions'));
    } catch (err) {
      if (!gated(err, $('session-list'))) throw err;
      $('sessions-others').hidden = true;
      return;
    }
    const list = $('session-list');
    list.replaceChildren();
    sessions.sort((a, b) => Number(b.current) - Number(a.current)); // this one first, then newest first
    for (const x of sessions) {
      const seen = x.last_seen_at && x.last_seen_at !== x.started_at
        ? ' · last seen ' + when(x.last_seen_at) + (x.last_ip && x.last_ip !== x.ip ? ' from ' + x.last_ip : '')
        : '';
      const li = item((x.current ? 'This browser: ' : '') + x.browser, 'From ' + x.ip + ' · signed in ' + when(x.started_at) + seen);
      li.dataset.session = x.id;
      if (!x.current) {
        li.appendChild(button('Sign out', 'danger-quiet', 'Sign out ' + x.browser + ' from ' + x.ip, () => endSession(x)));
      }
      list.appendChild(li);
    }
    $('sessions-others').hidden = !sessions.some((x) => !x.current);
  }

  async function endSession(x) {
    clearError();
    try {
      await Assent.call('DELETE', '/v1/security/sessions/' + x.id);
      await loadSessions();
      say('Signed out ' + x.browser + ' from ' + x.ip + '.');
      Assent.focus($('sessions-heading'));
    } catch (err) {
      fail(err);
    }
  }

  $('end-others').addEventListener('click', async () => {
    clearError();
    try {
      await Assent.call('DELETE', '/v1/security/sessions');
      await loadSessions();
      say('Every other session is signed out.');
      Assent.focus($('sessions-heading'));
    } catch (err) {
      fail(err);
    }
  });

  $('password-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('password-error').textContent = '';
    const current = $('password-current').value;
    const next = $('password-new').value;
    if (!current) { $('password-error').textContent = 'Enter your current password.'; Assent.focus($('password-current')); return; }
    if (next.length < 8) { $('password-error').textContent = 'The new password needs at least 8 characters.'; Assent.focus($('password-new')); return; }
    try {
      await Assent.call('POST', '/v1/security/password', { current_password: current, new_password: next });
      $('password-current').value = '';
      $('password-new').value = '';
      await loadSessions();
      say('Password changed. Every other session is signed out.');
      Assent.focus($('sec-status'));
    } catch (err) {
      $('password-error').textContent = Assent.words(err);
      Assent.focus(err.code === 'wrong_password' ? $('password-current') : $('password-new'));
    }
  });

  // Resuming paused sign-in requests takes the password and a code (the requests being
  // paused, no push): a challenge passed as a step-up, which the server spends on it.
  let resuming = null;
  $('resume-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('resume-error').textContent = '';
    const password = $('resume-password').value;
    if (!password) { $('resume-error').textContent = 'Enter your password.'; Assent.focus($('resume-password')); return; }
    try {
      const res = await Assent.call('POST', '/v1/sessions', { email: sess.email, password });
      $('resume-password').value = '';
      if (res.status !== 'challenge') { await load(); return; }
      resuming = { id: res.challenge.id, token: res.login_token };
      $('resume-form').hidden = true;
      $('resume-code-form').hidden = false;
      Assent.focus($('resume-code'));
    } catch (err) {
      $('resume-error').textContent = Assent.words(err);
    }
  });
  $('resume-code-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!resuming) return;
    $('resume-error').textContent = '';
    try {
      await Assent.call('POST', '/v1/logins/' + resuming.id + '/code', { code: $('resume-code').value.trim(), purpose: 'step_up' }, { 'X-Login-Token': resuming.token });
      await Assent.call('POST', '/v1/security/push/resume', { challenge_id: resuming.id });
      resuming = null;
      $('resume-code').value = '';
      $('resume-code-form').hidden = true;
      $('resume-form').hidden = false;
      await load();
      say('Sign-in requests are sent to your devices again.');
      Assent.focus($('sec-status'));
    } catch (err) {
      $('resume-error').textContent = Assent.words(err);
      Assent.focus($('resume-code'));
    }
  });

  // Live news of the account: a device linked or unlinked, elsewhere or here.
  let stopListening = () => {};
  function listen() {
    const es = new EventSource('/v1/security/events');
    stopListening = () => es.close();
    es.addEventListener('news', async (ev) => {
      const n = JSON.parse(ev.data);
      if (n.kind === 'watching') {
        live = true;
        if (!$('enroll-panel').hidden && $('enroll-status').textContent === 'Connecting…') {
          $('enroll-status').textContent = 'Waiting for your device…';
        }
        return;
      }
      try {
        const before = await load();
        const dev = view.devices.find((d) => d.id === n.device_id);
        if (n.kind === 'device_linked') {
          // The QR code is spent: it goes, and the news is told once, above the sections.
          let text = 'Device linked: ' + (dev ? dev.name : 'a new device') + '.';
          if (before && !before.mfa_enabled && view.mfa_enabled) {
            // Linking gave that device the first backup codes; "Get new backup codes" here
            // would replace them, so the page does not point there.
            text += ' Two-factor authentication is now on. Your first backup codes were given to that device: keep them somewhere safe.';
          }
          const wasOpen = !$('enroll-panel').hidden;
          closeEnrollment();
          say(text);
          if (wasOpen) Assent.focus($('devices-heading'));
        } else if (n.kind === 'push_paused') {
          say('A sign-in request was reported as not made by you: sign-in requests are paused.');
        } else if (n.kind === 'device_unlinked' && !removedHere.has(n.device_id)) {
          say('A device was removed.' + (view.mfa_enabled ? '' : ' Two-factor authentication is off.'));
        }
      } catch (err) {
        fail(err);
      }
    });
    es.onerror = () => { live = false; };
  }

  function closeEnrollment() {
    $('enroll-panel').hidden = true;
    $('enroll-qr').removeAttribute('src');
    $('enroll-command').textContent = '';
  }

  function closePanels() {
    closeEnrollment();
    $('totp-panel').hidden = true;
  }

  $('link-app').addEventListener('click', async () => {
    clearError();
    try {
      const e = await Assent.call('POST', '/v1/security/enrollments');
      closePanels();
      say('');
      $('enroll-qr').src = 'data:image/png;base64,' + e.qr.png;
      $('enroll-command').textContent = "assent device link '" + e.link + "'";
      $('enroll-expires').dateTime = e.expires_at;
      $('enroll-expires').textContent = when(e.expires_at);
      $('enroll-status').textContent = live ? 'Waiting for your device…' : 'Connecting…';
      $('enroll-panel').hidden = false;
      Assent.focus($('enroll-heading'));
    } catch (err) {
      fail(err);
    }
  });
  $('enroll-close').addEventListener('click', () => { closeEnrollment(); Assent.focus($('link-app')); });

  let totpID = null;
  $('add-totp').addEventListener('click', async () => {
    clearError();
    try {
      const a = await Assent.call('POST', '/v1/security/totp-apps');
      totpID = a.id;
      closePanels();
      say('');
      $('totp-qr').src = 'data:image/png;base64,' + a.qr.png;
      $('totp-secret').textContent = new URL(a.otpauth_uri).searchParams.get('secret') || '';
      $('totp-code').value = '';
      $('totp-error').textContent = '';
      $('totp-panel').hidden = false;
      Assent.focus($('totp-heading'));
    } catch (err) {
      fail(err);
    }
  });
  $('totp-close').addEventListener('click', () => { $('totp-panel').hidden = true; Assent.focus($('add-totp')); });
  $('totp-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const code = $('totp-code').value.replace(/\s/g, '');
    $('totp-error').textContent = '';
    try {
      const res = await Assent.call('POST', '/v1/security/totp-apps/' + totpID + '/confirm', { code });
      $('totp-panel').hidden = true;
      await load();
      say('Authenticator app added.' + (view.mfa_enabled ? ' Two-factor authentication is on.' : ''));
      if (res && res.codes && res.codes.length) showCodes(res.codes, null);
    } catch (err) {
      $('totp-error').textContent = Assent.words(err);
      Assent.focus($('totp-code'));
    }
  });

  // showCodes shows a set of backup codes once, with a download of the same codes.
  function showCodes(codes, text) {
    const list = $('codes-list');
    list.replaceChildren();
    for (const c of codes) {
      const li = document.createElement('li');
      li.textContent = c;
      list.appendChild(li);
    }
    $('codes-download').href = Assent.downloadURL(text === null ? Assent.backupCodesText(codes) : text);
    $('codes-panel').hidden = false;
    Assent.focus($('codes-heading'));
  }

  $('new-codes').addEventListener('click', async () => {
    clearError();
    say('');
    try {
      // The server's text file is both what is shown and what is downloaded.
      const text = await Assent.call('POST', '/v1/security/backup-codes?format=text');
      const body = text.split('\n\n').slice(1).join('\n');
      const codes = body.split('\n').map((s) => s.trim()).filter(Boolean);
      showCodes(codes, text);
      await load();
    } catch (err) {
      fail(err);
    }
  });
  $('codes-done').addEventListener('click', () => {
    $('codes-panel').hidden = true;
    $('codes-list').replaceChildren();
    $('codes-download').href = '#';
    Assent.focus($('new-codes'));
  });

  async function removeDevice(d) {
    clearError();
    try {
      removedHere.add(d.id);
      await Assent.call('DELETE', '/v1/security/devices/' + encodeURIComponent(d.id));
      await load();
      say('Removed ' + d.name + '.' + (view.mfa_enabled ? '' : ' Two-factor authentication is off.'));
      Assent.focus($('devices-heading'));
    } catch (err) {
      removedHere.delete(d.id);
      fail(err);
      // The last second factor goes only with 2FA itself, which takes the password and a
      // second factor: the page leads there.
      if (err.code === 'last_second_factor') Assent.focus($('disable-password'));
    }
  }

  // Turning 2FA off takes the password and a fresh second factor: a new challenge, approved
  // on a device or passed with a code, whose ID the server checks.
  let disabling = null;
  let stopWaiting = () => {};
  async function disableWith(challengeID) {
    disabling = null;
    try {
      await Assent.call('POST', '/v1/security/mfa/disable', { challenge_id: challengeID });
      $('disable-confirm').hidden = true;
      $('disable-form').hidden = false;
      await load();
      say('Two-factor authentication is off.');
      Assent.focus($('add-heading'));
    } catch (err) {
      $('disable-error').textContent = Assent.words(err);
    }
  }
  $('disable-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('disable-error').textContent = '';
    const password = $('disable-password').value;
    if (!password) { $('disable-error').textContent = 'Enter your password.'; Assent.focus($('disable-password')); return; }
    try {
      const res = await Assent.call('POST', '/v1/sessions', { email: sess.email, password });
      $('disable-password').value = '';
      if (res.status !== 'challenge') { $('disable-error').textContent = 'Two-factor authentication is already off.'; await load(); return; }
      const ch = res.challenge;
      disabling = { id: ch.id, token: res.login_token };
      const push = ch.devices > 0 && !ch.push_muted;
      $('disable-number').textContent = ch.number;
      $('disable-number-text').hidden = !push;
      $('disable-wait').textContent = push ? 'Waiting for your answer…' : '';
      $('disable-form').hidden = true;
      $('disable-confirm').hidden = false;
      Assent.focus(push ? $('disable-number-text') : $('disable-code'));
      stopWaiting();
      stopWaiting = Assent.awaitLogin(ch.id, res.login_token, (st) => {
        if (st.approved) { if (disabling && disabling.id === ch.id && !disabling.viaCode) disableWith(ch.id); return; }
        const [title] = Assent.outcomes[st.status] || ['Not confirmed'];
        $('disable-wait').textContent = title + '. Two-factor authentication stays on.';
        $('disable-confirm').hidden = true;
        $('disable-form').hidden = false;
        disabling = null;
      }, (err) => { $('disable-error').textContent = Assent.words(err); });
    } catch (err) {
      $('disable-error').textContent = Assent.words(err);
    }
  });
  $('disable-code-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!disabling) return;
    const { id, token } = disabling;
    $('disable-error').textContent = '';
    disabling.viaCode = true;
    try {
      // step_up: the code only passes the challenge; turning 2FA off spends it, once.
      await Assent.call('POST', '/v1/logins/' + id + '/code', { code: $('disable-code').value.trim(), purpose: 'step_up' }, { 'X-Login-Token': token });
      stopWaiting();
      $('disable-code').value = '';
      await disableWith(id);
    } catch (err) {
      if (disabling) disabling.viaCode = false;
      $('disable-error').textContent = Assent.words(err);
      Assent.focus($('disable-code'));
    }
  });

  // "Delete my account": with 2FA on, the password and a fresh second factor, as for turning
  // 2FA off; with 2FA off, the password alone (the server checks it again).
  let erasing = null;
  let stopErasing = () => {};
  function erased() {
    gone = true;
    stopErasing();
    stopListening(); // the account is gone: its news with it
    $('security').hidden = true;
    $('mfa-summary').hidden = true;
    clearError();
    say('');
    // Signed out: the navigation offers what fits someone without an account.
    for (const li of document.querySelectorAll('[data-nav]')) li.hidden = li.dataset.nav !== 'out';
    $('erased').hidden = false;
    Assent.focus($('erased-heading'));
  }
  async function eraseWith(body) {
    erasing = null;
    try {
      await Assent.call('POST', '/v1/security/erase', body);
      erased();
    } catch (err) {
      $('erase-confirm').hidden = true;
      $('erase-form').hidden = false;
      $('erase-error').textContent = Assent.words(err);
    }
  }
  $('erase-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('erase-error').textContent = '';
    const password = $('erase-password').value;
    if (!password) { $('erase-error').textContent = 'Enter your password.'; Assent.focus($('erase-password')); return; }
    $('erase-password').value = '';
    if (!view || !view.mfa_enabled) { await eraseWith({ password }); return; }
    try {
      const res = await Assent.call('POST', '/v1/sessions', { email: sess.email, password });
      if (res.status !== 'challenge') { $('erase-error').textContent = 'Try again: the page was out of date.'; await load(); return; }
      const ch = res.challenge;
      erasing = { id: ch.id, token: res.login_token };
      const push = ch.devices > 0 && !ch.push_muted;
      $('erase-number').textContent = ch.number;
      $('erase-number-text').hidden = !push;
      $('erase-wait').textContent = push ? 'Waiting for your answer…' : '';
      $('erase-form').hidden = true;
      $('erase-confirm').hidden = false;
      Assent.focus(push ? $('erase-number-text') : $('erase-code'));
      stopErasing();
      stopErasing = Assent.awaitLogin(ch.id, res.login_token, (st) => {
        if (st.approved) { if (erasing && erasing.id === ch.id && !erasing.viaCode) eraseWith({ challenge_id: ch.id }); return; }
        const [title] = Assent.outcomes[st.status] || ['Not confirmed'];
        $('erase-wait').textContent = title + '. Your account is not deleted.';
        $('erase-confirm').hidden = true;
        $('erase-form').hidden = false;
        erasing = null;
      }, (err) => { $('erase-error').textContent = Assent.words(err); });
    } catch (err) {
      $('erase-error').textContent = Assent.words(err);
    }
  });
  $('erase-code-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!erasing) return;
    const { id, token } = erasing;
    $('erase-error').textContent = '';
    erasing.viaCode = true;
    try {
      await Assent.call('POST', '/v1/logins/' + id + '/code', { code: $('erase-code').value.trim(), purpose: 'step_up' }, { 'X-Login-Token': token });
      stopErasing();
      $('erase-code').value = '';
      await eraseWith({ challenge_id: id });
    } catch (err) {
      if (erasing) erasing.viaCode = false;
      $('erase-error').textContent = Assent.words(err);
      Assent.focus($('erase-code'));
    }
  });

  try {
    sess = await Assent.requireSession();
    Assent.showNotices(sess);
    if (!sess) return;
    $('disable-username').value = sess.email;
    $('resume-username').value = sess.email;
    $('password-username').value = sess.email;
    $('erase-username').value = sess.email;
    $('session-email').textContent = sess.email;
    $('session-expires').dateTime = sess.expires;
    $('session-expires').textContent = when(sess.expires);
    listen();
    await load();
    say('');
  } catch (err) {
    say('');
    fail(err);
  }
})();

// The security page: activate or add the Assent app (QR code, live "device linked"), an
// authenticator app, backup codes shown once, the devices with Remove, this browser's
// session, and turning 2FA off.
'use strict';

(async () => {
  const $ = (id) => document.getElementById(id);
  let sess = null;
  let view = null;
  const removedHere = new Set(); // devices this page removed: it has said so already
  let live = false;

  function say(text) { $('sec-status').textContent = text; }
  function fail(err) { $('sec-error').textContent = Assent.words(err); }
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
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'danger-quiet';
      b.textContent = 'Remove';
      b.setAttribute('aria-label', 'Remove ' + d.name);
      b.dataset.device = d.id;
      b.addEventListener('click', () => removeDevice(d));
      li.appendChild(b);
      devices.appendChild(li);
    }
    $('devices-empty').hidden = v.devices.length > 0;

    const apps = $('app-list');
    apps.replaceChildren();
    for (const a of v.totp_apps) {
      apps.appendChild(item(a.name || 'Authenticator app', a.confirmed ? 'Added ' + when(a.added_at) : 'Not confirmed yet'));
    }
    $('apps-empty').hidden = v.totp_apps.length > 0;

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

  async function load() {
    return render(await Assent.call('GET', '/v1/security'));
  }

  // Live news of the account: a device linked or unlinked, elsewhere or here.
  function listen() {
    const es = new EventSource('/v1/security/events');
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

  try {
    sess = await Assent.requireSession();
    Assent.showNotices(sess);
    if (!sess) return;
    $('disable-username').value = sess.email;
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

// The sign-in page: password, then "Open your app and enter NN" while the page waits on the
// sign-in's result stream and moves on by itself, or a code instead.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const steps = ['step-password', 'step-approve', 'step-code', 'step-outcome'];
  let pending = null; // { id, token }
  let stopWaiting = () => {};
  // An OpenID Connect authorization this sign-in is for (/signin?oidc=ID): when signed in, the
  // page resumes it, naming the challenge it passed, instead of going home.
  const oidc = (() => {
    const id = new URLSearchParams(window.location.search).get('oidc') || '';
    return /^[0-9a-f-]{36}$/.test(id) ? id : '';
  })();

  function destination() {
    if (!oidc) return '/';
    let url = '/oidc/continue?id=' + encodeURIComponent(oidc);
    if (pending) url += '&challenge=' + encodeURIComponent(pending.id);
    return url;
  }

  function step(name, focusID) {
    for (const s of steps) $(s).hidden = s !== name;
    if (focusID) Assent.focus($(focusID));
  }

  function outcome(title, text) {
    stopWaiting();
    $('outcome-heading').textContent = title;
    $('outcome-text').textContent = text;
    step('step-outcome', 'outcome-heading');
  }

  async function signedIn() {
    stopWaiting();
    $('wait-status').textContent = 'Approved. Signing you in…';
    window.location.assign(destination());
  }

  async function onFinal(st) {
    if (st.approved) {
      try {
        await Assent.call('POST', '/v1/logins/' + pending.id + '/session', undefined, { 'X-Login-Token': pending.token });
        signedIn();
      } catch (err) {
        outcome('Sign-in not completed', Assent.words(err));
      }
      return;
    }
    const [title, text] = Assent.outcomes[st.status] || ['Sign-in not completed', 'This sign-in request can no longer be used. Sign in again.'];
    outcome(title, text);
  }

  function showCode(reason) {
    if (reason) $('code-reason').textContent = reason;
    step('step-code', 'code');
  }

  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const email = $('email').value.trim();
    const password = $('password').value;
    $('signin-error').textContent = '';
    if (!email || !password) {
      $('signin-error').textContent = 'Enter your email address and your password.';
      Assent.focus(email ? $('password') : $('email'));
      return;
    }
    $('signin-submit').disabled = true;
    pending = null;
    try {
      const res = await Assent.call('POST', '/v1/sessions', { email, password });
      if (res.status === 'signed_in') {
        if (res.enrollment_required && !oidc) {
          // The help desk reset the second factor: setting up a new one comes first.
          window.location.assign('/security');
          return;
        }
        signedIn();
        return;
      }
      const ch = res.challenge;
      pending = { id: ch.id, token: res.login_token };
      $('password').value = '';
      stopWaiting = Assent.awaitLogin(ch.id, res.login_token, onFinal, (err) => outcome('Sign-in not completed', Assent.words(err)));
      if (ch.push_muted) {
        showCode('Requests to your device are paused after a sign-in was reported as not yours. Enter the 6-digit code your app shows, or a backup code.');
      } else if (ch.devices === 0) {
        showCode('Enter the 6-digit code your authenticator app shows, or one of your backup codes.');
      } else {
        $('number').textContent = ch.number;
        step('step-approve', 'approve-heading');
      }
    } catch (err) {
      $('signin-error').textContent = Assent.words(err);
    } finally {
      $('signin-submit').disabled = false;
    }
  });

  $('use-code').addEventListener('click', () => showCode());

  $('code-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const code = $('code').value.trim();
    $('code-error').textContent = '';
    if (!code) {
      $('code-error').textContent = 'Enter a code.';
      Assent.focus($('code'));
      return;
    }
    $('code-submit').disabled = true;
    try {
      await Assent.call('POST', '/v1/logins/' + pending.id + '/code', { code }, { 'X-Login-Token': pending.token });
      signedIn();
    } catch (err) {
      if (['challenge_expired', 'challenge_superseded', 'challenge_decided', 'challenge_redeemed', 'challenge_locked'].includes(err.code)) {
        outcome('Sign-in not completed', Assent.words(err));
      } else {
        $('code-error').textContent = Assent.words(err);
        Assent.focus($('code'));
      }
    } finally {
      $('code-submit').disabled = false;
    }
  });
})();

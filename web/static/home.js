// The signed-in home: who is signed in and whether 2FA is on (sign-out is in the navigation).
'use strict';

(async () => {
  const $ = (id) => document.getElementById(id);
  try {
    const s = await Assent.requireSession();
    if (!s) return;
    const sec = await Assent.call('GET', '/v1/security');
    $('home-email').textContent = s.email;
    $('home-mfa').textContent = sec.mfa_enabled ? 'on' : 'off';
    $('home-mfa').classList.toggle('on', sec.mfa_enabled);
    $('home-advice').textContent = sec.mfa_enabled
      ? 'Each sign-in needs your password and your phone, an authenticator app or a backup code.'
      : 'Your password alone protects this account. Turn on two-factor authentication on the security page.';
    $('home-status').textContent = '';
    $('home-account').hidden = false;
    Assent.showNotices(s);
  } catch (err) {
    $('home-status').textContent = Assent.words(err);
  }
})();

// The operators' console. Plain DOM, no framework: the page is served with a CSP that
// allows only this file and console.css, and every value from the API goes in through
// textContent (nicknames and reasons are user input).
'use strict';

(() => {
  const STORE = 'im-access.admin-key';
  let current = null; // the user shown, as the last lookup answered

  const TEXT = {
    en: {
      title: "im-access · operators' console",
      signOut: 'Sign out',
      signInTitle: 'Sign in',
      signInHint: 'Paste an admin key. It is kept in this tab only, until you sign out or close the tab.',
      keyLabel: 'Admin key',
      signIn: 'Sign in',
      checking: 'Checking the key…',
      keyRefused: 'Wrong admin key: {0}',
      keyMissing: 'Enter an admin key.',
      signedOutRefused: 'The server no longer accepts this key: {0}',
      lookupTitle: 'Find a user',
      userId: 'User id',
      or: 'or',
      nationCode: 'Nation code',
      phone: 'Phone',
      lookUp: 'Look up',
      lookupNeeds: 'Enter a user id, or a nation code and a phone number.',
      notNumber: '{0} must be a number.',
      createdAt: 'Created',
      lastSeen: 'Last seen',
      counts: 'Follows / fans / blocks',
      bannedUntil: 'Banned until',
      banReason: 'Ban reason',
      noEnd: 'no end',
      sessions: 'Sessions',
      device: 'Device',
      deviceId: 'Device id',
      created: 'Created',
      lastActive: 'Last active',
      noSessions: 'No live session.',
      actions: 'Actions',
      reason: 'Reason',
      banEnd: 'Ends (empty: no end)',
      ban: 'Ban',
      unban: 'Unban',
      forceLogoutOf: 'Force logout of',
      allDevices: 'all devices',
      forceLogout: 'Force logout',
      deleteReason: 'Reason for deletion',
      deleteConfirm: 'Type the user id to confirm',
      deleteConfirmId: 'Type {0} to confirm',
      delete: 'Delete account',
      reasonNeeded: 'Give a reason.',
      reasonTooLong: 'The reason is longer than 200 characters.',
      untilPast: 'The end of the ban is in the past.',
      untilBad: 'The end of the ban is not a valid date.',
      banned: 'User {0} is banned.',
      unbanned: 'User {0} is unbanned.',
      revoked: 'User {0} is signed out of {1}.',
      deleted: 'Account {0} is deleted.',
      state_active: 'active',
      state_banned: 'banned',
      state_deleted: 'deleted',
      auditTitle: 'Audit log',
      filterUser: 'User id (empty: all)',
      limit: 'Rows',
      thisUser: 'This user',
      show: 'Show',
      older: 'Older',
      id: '#',
      at: 'Time',
      key: 'Key',
      action: 'Action',
      user: 'User',
      requestId: 'Request id',
      noEntries: 'No entries.',
      noMore: 'No older entries.',
      limitBad: 'Rows must be between 1 and 500.',
      apiError: '{0} (code {1})',
      apiErrorRid: '{0} (code {1}, request {2})',
      network: 'The server could not be reached: {0}',
      badAnswer: 'The server gave an unexpected answer (HTTP {0}).',
      busy: 'Working…',
      none: '—',
    },
    zh: {
      title: 'im-access · 运营控制台',
      signOut: '退出',
      signInTitle: '登录',
      signInHint: '粘贴管理密钥。它只保存在当前标签页中，退出或关闭标签页即清除。',
      keyLabel: '管理密钥',
      signIn: '登录',
      checking: '正在验证密钥…',
      keyRefused: '管理密钥错误：{0}',
      keyMissing: '请输入管理密钥。',
      signedOutRefused: '服务器不再接受此密钥：{0}',
      lookupTitle: '查找用户',
      userId: '用户 ID',
      or: '或',
      nationCode: '国家代码',
      phone: '手机号',
      lookUp: '查找',
      lookupNeeds: '请输入用户 ID，或国家代码和手机号。',
      notNumber: '{0}必须是数字。',
      createdAt: '注册时间',
      lastSeen: '最近登录',
      counts: '关注 / 粉丝 / 拉黑',
      bannedUntil: '封禁至',
      banReason: '封禁原因',
      noEnd: '永久',
      sessions: '会话',
      device: '设备',
      deviceId: '设备 ID',
      created: '创建时间',
      lastActive: '最近活动',
      noSessions: '没有有效会话。',
      actions: '操作',
      reason: '原因',
      banEnd: '结束时间（留空：永久）',
      ban: '封禁',
      unban: '解封',
      forceLogoutOf: '强制下线',
      allDevices: '全部设备',
      forceLogout: '强制下线',
      deleteReason: '删除原因',
      deleteConfirm: '输入用户 ID 以确认',
      deleteConfirmId: '输入 {0} 以确认',
      delete: '删除账号',
      reasonNeeded: '请填写原因。',
      reasonTooLong: '原因不能超过 200 个字符。',
      untilPast: '封禁结束时间已经过去。',
      untilBad: '封禁结束时间无效。',
      banned: '用户 {0} 已封禁。',
      unbanned: '用户 {0} 已解封。',
      revoked: '用户 {0} 已从{1}下线。',
      deleted: '账号 {0} 已删除。',
      state_active: '正常',
      state_banned: '已封禁',
      state_deleted: '已删除',
      auditTitle: '审计日志',
      filterUser: '用户 ID（留空：全部）',
      limit: '条数',
      thisUser: '当前用户',
      show: '显示',
      older: '更早',
      id: '#',
      at: '时间',
      key: '密钥',
      action: '操作',
      user: '用户',
      requestId: '请求 ID',
      noEntries: '没有记录。',
      noMore: '没有更早的记录。',
      limitBad: '条数必须在 1 到 500 之间。',
      apiError: '{0}（错误码 {1}）',
      apiErrorRid: '{0}（错误码 {1}，请求 {2}）',
      network: '无法连接服务器：{0}',
      badAnswer: '服务器返回了无法识别的响应（HTTP {0}）。',
      busy: '处理中…',
      none: '—',
    },
  };

  const lang = /^zh/i.test(navigator.language || '') ? 'zh' : 'en';
  const t = (k, ...args) =>
    (TEXT[lang][k] ?? TEXT.en[k] ?? k).replace(/\{(\d)\}/g, (_, i) => String(args[i] ?? ''));

  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };

  // --- the API --------------------------------------------------------------------

  class Failure extends Error {
    constructor(text, code) {
      super(text);
      this.code = code;
    }
  }

  // Paths are relative to the page (/admin/), so the console works behind a prefix.
  async function api(method, path, params, key = sessionStorage.getItem(STORE)) {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${key ?? ''}` };
    let url = path;
    let body;
    const given = Object.entries(params || {}).filter(([, v]) => v !== undefined && v !== null && v !== '');
    if (method === 'GET') {
      if (given.length) url += `?${new URLSearchParams(given.map(([k, v]) => [k, String(v)]))}`;
    } else {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(Object.fromEntries(given));
    }
    let res;
    try {
      res = await fetch(url, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new Failure(t('network', e && e.message ? e.message : String(e)), 'network');
    }
    let env;
    try {
      env = await res.json();
    } catch {
      throw new Failure(t('badAnswer', res.status), 'answer');
    }
    if (!env || typeof env.code !== 'number') throw new Failure(t('badAnswer', res.status), 'answer');
    if (env.code !== 0) {
      const msg = typeof env.message === 'string' && env.message ? env.message : String(env.code);
      const rid = env['request-id'];
      throw new Failure(rid ? t('apiErrorRid', msg, env.code, rid) : t('apiError', msg, env.code), env.code);
    }
    return env.data;
  }

  function say(target, text, kind) {
    const p = $(target);
    p.textContent = text || '';
    p.className = `msg${kind ? ` ${kind}` : ''}`;
  }

  // Runs one request for a form (or a part of the page): its buttons are off meanwhile,
  // a failure is shown in words, and a refused key sends the operator back to sign-in.
  async function run(form, msgId, work) {
    const buttons = [...form.querySelectorAll('button')];
    const was = buttons.map((b) => b.disabled);
    buttons.forEach((b) => { b.disabled = true; });
    form.setAttribute('aria-busy', 'true');
    try {
      await work();
    } catch (e) {
      if (e instanceof Failure && e.code === 401) {
        signOut(t('signedOutRefused', e.message));
      } else {
        say(msgId, e instanceof Failure ? e.message : String(e), 'error');
      }
    } finally {
      form.removeAttribute('aria-busy');
      buttons.forEach((b, i) => { b.disabled = was[i]; });
      updateDelete();
    }
  }

  // --- formatting -----------------------------------------------------------------

  const dateFmt = new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : undefined, {
    dateStyle: 'medium',
    timeStyle: 'medium',
  });

  // Unix seconds (number or digits) or an RFC 3339 string.
  function toDate(v) {
    if (v === null || v === undefined || v === '') return null;
    if (typeof v === 'number' || /^\d+$/.test(String(v))) return new Date(Number(v) * 1000);
    const d = new Date(String(v));
    return Number.isNaN(d.getTime()) ? null : d;
  }

  // Tables use a compact local "YYYY-MM-DD hh:mm:ss"; the UTC instant is in the tooltip.
  function compact(d) {
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} `
      + `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function timeCell(tag, v, short) {
    const cell = el(tag, undefined, short ? 'time' : undefined);
    const d = toDate(v);
    if (d) {
      cell.textContent = short ? compact(d) : dateFmt.format(d);
      cell.title = d.toISOString();
    } else {
      cell.textContent = v === null || v === undefined || v === '' ? t('none') : String(v);
    }
    return cell;
  }

  function fill(id, text) {
    $(id).textContent = text === null || text === undefined || text === '' ? t('none') : String(text);
  }

  function fillTime(id, v) {
    const cell = timeCell('span', v);
    $(id).replaceChildren(cell);
  }

  const digits = (s) => /^\d+$/.test(s);

  // --- sign in and out --------------------------------------------------------------

  function showConsole(on) {
    $('signin').hidden = on;
    $('console').hidden = !on;
    $('signout').hidden = !on;
  }

  function signOut(why) {
    sessionStorage.removeItem(STORE);
    current = null;
    $('user').hidden = true;
    $('audit-rows').replaceChildren();
    $('audit-older').hidden = true;
    $('audit-this').disabled = true;
    for (const id of ['lookup-msg', 'action-msg', 'audit-msg']) say(id, '');
    for (const f of document.querySelectorAll('#console form')) f.reset();
    showConsole(false);
    say('signin-msg', why || '', why ? 'error' : '');
    $('key').focus();
  }

  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('key').value.trim();
    if (!key) {
      say('signin-msg', t('keyMissing'), 'error');
      return;
    }
    say('signin-msg', t('checking'));
    run(ev.currentTarget, 'signin-msg', async () => {
      try {
        await api('GET', 'audit', { limit: 1 }, key);
      } catch (e) {
        if (e instanceof Failure && e.code === 401) {
          say('signin-msg', t('keyRefused', e.message), 'error');
          $('key').select();
          return;
        }
        throw e;
      }
      sessionStorage.setItem(STORE, key);
      $('key').value = '';
      say('signin-msg', '');
      showConsole(true);
      $('lookup-id').focus();
      await loadAudit(false);
    });
  });

  $('signout').addEventListener('click', () => signOut());

  // --- the user -------------------------------------------------------------------

  // Only the newest of overlapping requests of a kind is shown.
  let lookupSeq = 0;
  let auditSeq = 0;

  async function lookup(query) {
    const mine = ++lookupSeq;
    const u = await api('GET', 'users/lookup', query);
    if (mine === lookupSeq) render(u);
  }

  function render(u) {
    current = u;
    const avatar = $('u-avatar');
    let src = null;
    try {
      const url = u.avatar ? new URL(u.avatar, location.href) : null;
      if (url && (url.protocol === 'https:' || url.protocol === 'http:')) src = url.href;
    } catch {
      src = null;
    }
    if (src) avatar.src = src; else avatar.removeAttribute('src');
    avatar.hidden = !src;
    fill('u-nickname', u.nickname);
    const state = String(u.state || '');
    const badge = $('u-state');
    badge.textContent = t(`state_${state}`) === `state_${state}` ? state : t(`state_${state}`);
    badge.className = `badge state-${state.replace(/[^a-z]/g, '')}`;
    fill('u-id', u.user_id);
    fill('u-phone', u.phone ? `+${u.nation_code ?? ''} ${u.phone}` : null);
    fillTime('u-created', u.created_at);
    fillTime('u-seen', u.last_seen);
    const c = u.counts || {};
    fill('u-counts', `${c.follows ?? '?'} / ${c.fans ?? '?'} / ${c.blocks ?? '?'}`);
    const banned = state === 'banned';
    for (const e of document.querySelectorAll('.ban-only')) e.hidden = !banned;
    if (u.banned_until) fillTime('u-until', u.banned_until); else fill('u-until', t('noEnd'));
    fill('u-reason', u.ban_reason);

    const rows = (Array.isArray(u.sessions) ? u.sessions : []).map((s) => {
      const tr = el('tr');
      tr.append(el('td', s.device ?? t('none')), el('td', s.device_id ?? t('none'), 'mono'),
        timeCell('td', s.created_at, true), timeCell('td', s.last_active_at, true));
      return tr;
    });
    if (!rows.length) {
      const td = el('td', t('noSessions'), 'empty');
      td.colSpan = 4;
      const tr = el('tr');
      tr.append(td);
      rows.push(tr);
    }
    $('u-sessions').replaceChildren(...rows);

    const gone = state === 'deleted';
    for (const id of ['ban-form', 'revoke-form', 'delete-form']) $(id).hidden = gone;
    $('delete-confirm-label').textContent = t('deleteConfirmId', u.user_id);
    $('audit-this').disabled = false;
    $('user').hidden = false;
    updateDelete();
  }

  function clearUser() {
    current = null;
    $('user').hidden = true;
    $('audit-this').disabled = true;
  }

  $('lookup-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    say('action-msg', '');
    const id = $('lookup-id').value.trim();
    const nation = $('lookup-nation').value.trim().replace(/^\+/, '');
    const phone = $('lookup-phone').value.trim();
    let query;
    if (id) {
      if (!digits(id)) return say('lookup-msg', t('notNumber', t('userId')), 'error');
      query = { user_id: id };
    } else if (nation && phone) {
      query = { nation_code: nation, phone };
    } else {
      return say('lookup-msg', t('lookupNeeds'), 'error');
    }
    say('lookup-msg', t('busy'));
    clearUser();
    for (const f of ['ban-form', 'revoke-form', 'delete-form']) $(f).reset();
    run(ev.currentTarget, 'lookup-msg', async () => {
      await lookup(query);
      say('lookup-msg', '');
    });
  });

  // After a change: the user as it is now, and the audit log's first page.
  async function refresh(userId) {
    try {
      await lookup({ user_id: userId });
      say('lookup-msg', '');
    } catch (e) {
      clearUser();
      if (e instanceof Failure && e.code === 401) throw e;
      say('lookup-msg', e.message, 'error');
    }
    await loadAudit(false);
  }

  function reasonOf(input) {
    const reason = input.value.trim();
    if (!reason) return [null, t('reasonNeeded')];
    if ([...reason].length > 200) return [null, t('reasonTooLong')];
    return [reason, null];
  }

  // datetime-local is the operator's local time; the API wants RFC 3339.
  function untilOf(input) {
    if (!input.value) return [undefined, null];
    const d = new Date(input.value);
    if (Number.isNaN(d.getTime())) return [null, t('untilBad')];
    if (d.getTime() <= Date.now()) return [null, t('untilPast')];
    return [d.toISOString().replace(/\.\d{3}Z$/, 'Z'), null];
  }

  $('ban-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!current) return;
    const [reason, bad] = reasonOf($('ban-reason'));
    if (bad) return say('action-msg', bad, 'error');
    const [until, badUntil] = untilOf($('ban-until'));
    if (badUntil) return say('action-msg', badUntil, 'error');
    const id = current.user_id;
    const form = ev.currentTarget;
    say('action-msg', t('busy'));
    run(form, 'action-msg', async () => {
      await api('POST', 'users/ban', { user_id: id, reason, until });
      say('action-msg', t('banned', id), 'ok');
      form.reset();
      await refresh(id);
    });
  });

  $('unban').addEventListener('click', () => {
    if (!current) return;
    const id = current.user_id;
    say('action-msg', t('busy'));
    run($('user'), 'action-msg', async () => {
      await api('POST', 'users/unban', { user_id: id });
      say('action-msg', t('unbanned', id), 'ok');
      await refresh(id);
    });
  });

  $('revoke-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!current) return;
    const id = current.user_id;
    const device = $('revoke-device').value;
    say('action-msg', t('busy'));
    run(ev.currentTarget, 'action-msg', async () => {
      await api('POST', 'sessions/revoke', { user_id: id, device: device || undefined });
      say('action-msg', t('revoked', id, device || t('allDevices')), 'ok');
      await refresh(id);
    });
  });

  function updateDelete() {
    const ok = current !== null
      && $('delete-confirm').value.trim() === String(current.user_id)
      && $('delete-reason').value.trim() !== '';
    $('delete').disabled = !ok;
  }
  $('delete-confirm').addEventListener('input', updateDelete);
  $('delete-reason').addEventListener('input', updateDelete);

  $('delete-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    updateDelete();
    if (!current || $('delete').disabled) return;
    const [reason, bad] = reasonOf($('delete-reason'));
    if (bad) return say('action-msg', bad, 'error');
    const id = current.user_id;
    const form = ev.currentTarget;
    say('action-msg', t('busy'));
    run(form, 'action-msg', async () => {
      await api('POST', 'users/delete', { user_id: id, reason });
      say('action-msg', t('deleted', id), 'ok');
      form.reset();
      await refresh(id);
    });
  });

  // --- the audit log --------------------------------------------------------------

  let auditLast = null;

  function auditQuery() {
    const user = $('audit-user').value.trim();
    if (user && !digits(user)) throw new Failure(t('notNumber', t('userId')), 'input');
    const limit = Number($('audit-limit').value || 50);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new Failure(t('limitBad'), 'input');
    return { user_id: user || undefined, limit };
  }

  async function loadAudit(older) {
    const q = auditQuery();
    if (older) q.after = auditLast;
    const mine = ++auditSeq;
    const data = await api('GET', 'audit', q);
    if (mine !== auditSeq) return;
    // The contract says "entries"; accept a bare array or one wrapped in an object.
    const entries = Array.isArray(data) ? data : (data && (data.entries || data.items || data.list)) || [];
    const rows = entries.map((a) => {
      const tr = el('tr');
      const who = el('td');
      if (a.user_id !== null && a.user_id !== undefined) {
        const b = el('button', a.user_id, 'link');
        b.type = 'button';
        b.addEventListener('click', () => {
          $('lookup-id').value = String(a.user_id);
          $('lookup-form').requestSubmit();
        });
        who.append(b);
      } else {
        who.textContent = t('none');
      }
      const rid = el('td', a.request_id ?? t('none'), 'mono rid');
      if (a.request_id) rid.title = a.request_id;
      tr.append(el('td', a.id), timeCell('td', a.at, true), el('td', a.key ?? t('none'), 'nowrap'),
        el('td', a.action ?? t('none'), 'mono'), who, el('td', a.reason ?? t('none'), 'reason'), rid);
      return tr;
    });
    if (!older) $('audit-rows').replaceChildren(...rows); else $('audit-rows').append(...rows);
    if (entries.length) auditLast = entries[entries.length - 1].id;
    $('audit-older').hidden = entries.length < q.limit;
    if (!older && !entries.length) say('audit-msg', t('noEntries'));
    else if (older && !entries.length) say('audit-msg', t('noMore'));
    else say('audit-msg', '');
  }

  $('audit-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    run(ev.currentTarget, 'audit-msg', () => loadAudit(false));
  });
  $('audit-older').addEventListener('click', () => {
    run($('audit-form'), 'audit-msg', async () => {
      $('audit-older').disabled = true;
      try {
        await loadAudit(true);
      } finally {
        $('audit-older').disabled = false;
      }
    });
  });
  $('audit-this').addEventListener('click', () => {
    if (!current) return;
    $('audit-user').value = String(current.user_id);
    $('audit-form').requestSubmit();
  });

  // --- start ----------------------------------------------------------------------

  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  document.title = t('title');

  if (sessionStorage.getItem(STORE)) {
    showConsole(true);
    run($('audit-form'), 'audit-msg', () => loadAudit(false));
  } else {
    showConsole(false);
    $('key').focus();
  }
})();

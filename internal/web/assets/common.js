// Shared by /report and /map: the token, the GraphQL client, DOM helpers,
// Chinese names, and the sign-in (the identity provider's, or on a dev hub a
// pasted token).
'use strict';

const GH = (() => {
  const TOKEN_KEY = 'gridhub.token';

  const DEPARTMENTS = {
    core: '基本信息',
    civil_affairs: '民政',
    health: '卫健',
    employment: '就业',
    social_security: '社保',
    urban_management: '城管',
    party_building: '党建',
  };
  const ROLES = {
    admin: '管理员',
    dept_officer: '部门工作人员',
    grid_worker: '网格员',
    community_admin: '社区工作者',
    street_admin: '街道管理员',
    bi_reader: '数据分析',
    auditor: '审计员',
  };
  const LEVELS = { DISTRICT: '区县', TOWNSHIP: '街道/镇', COMMUNITY: '社区/村', GRID: '网格' };

  const dept = (code) => DEPARTMENTS[code] || code || '';

  // ---- the token ----
  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }
  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage off: the token lives as long as the page */ }
  }
  // claims decodes a JWT's payload for display only: the hub verifies it.
  function claims(t) {
    const part = String(t || '').split('.')[1];
    if (!part) return null;
    try {
      const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(b64 + '==='.slice((b64.length + 3) % 4));
      const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) { return null; }
  }
  function describe(c) {
    if (!c) return '';
    const roles = (c.roles || []).map((r) => ROLES[r] || r).join('、');
    const scope = (c.scope || []).join(', ');
    const d = c.department ? ' · ' + dept(c.department) : '';
    return (c.sub || '') + ' · ' + roles + d + (scope ? ' · ' + scope : '');
  }

  // ---- GraphQL ----
  class RequestError extends Error {
    constructor(message, errors) { super(message); this.errors = errors || []; }
  }
  // gql posts a document; it resolves to {data, errors} (errors may be empty)
  // and rejects only when there is no GraphQL answer at all.
  async function gql(query, variables, opts) {
    await fresh();
    const body = JSON.stringify({ query, variables: variables || {} });
    let answer = await send(body, opts);
    const unauthenticated = (a) => a.body && (a.body.errors || []).some((e) => code(e) === 'UNAUTHENTICATED');
    // A session token that lapsed (a laptop asleep): renewed once on the
    // signed-in session, and the request sent again.
    if (unauthenticated(answer) && fromSession(token())) {
      const s = await session();
      if (s.token) answer = await send(body, opts);
    }
    const { resp, body: reply } = answer;
    if (!reply) {
      throw new RequestError(resp ? '服务器没有给出有效回答（HTTP ' + resp.status + '），请重试。' : '无法连接服务器，请检查网络后重试。');
    }
    const errors = reply.errors || [];
    if (unauthenticated(answer)) {
      document.dispatchEvent(new CustomEvent('gh:unauthenticated'));
    }
    return { data: reply.data || null, errors, status: resp.status };
  }
  // send posts a document with the token in force; one retry when the
  // answer is lost on the way (a phone changing networks): safe, since
  // queries read and a report carries its idempotency key.
  async function send(body, opts) {
    const headers = {
      'Content-Type': 'application/json',
      'Accept': 'application/graphql-response+json, application/json;q=0.9',
    };
    const t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    if (opts && opts.purpose) headers['X-Purpose'] = opts.purpose;
    let answer;
    for (let attempt = 0; ; attempt++) {
      answer = await post(headers, body);
      if (answer.body || attempt === 1) break;
      await new Promise((r) => setTimeout(r, 400));
    }
    return answer;
  }
  // post sends one request: {resp, body} with body null when no GraphQL
  // answer came back.
  async function post(headers, body) {
    let resp = null;
    try {
      resp = await fetch('/graphql', { method: 'POST', headers, body });
      const text = await resp.text();
      const reply = JSON.parse(text);
      if (reply && typeof reply === 'object' && (reply.data !== undefined || Array.isArray(reply.errors))) return { resp, body: reply };
      console.warn('gridhub: unexpected answer', resp.status, text.slice(0, 200));
    } catch (e) {
      console.warn('gridhub: request failed', resp && resp.status, e && e.message);
    }
    return { resp, body: null };
  }
  // must is gql that rejects on any error, with the errors in Chinese.
  async function must(query, variables, opts) {
    const r = await gql(query, variables, opts);
    if (r.errors.length) throw new RequestError(errorText(r.errors[0]), r.errors);
    return r.data;
  }
  const code = (e) => (e && e.extensions && e.extensions.code) || '';

  function errorText(e) {
    const msg = (e && e.message) || '';
    switch (code(e)) {
      case 'UNAUTHENTICATED': return '登录已失效或令牌无效，请重新登录。';
      case 'FORBIDDEN': return '当前令牌无权进行此操作（' + msg + '）';
      case 'FORBIDDEN_FIELD': return '当前令牌无权查看部分字段（' + msg + '）';
      case 'PURPOSE_REQUIRED': return '读取这些字段需要说明使用目的（' + msg + '）';
      case 'RATE_LIMITED': return '请求过于频繁，请稍后再试。';
      case 'QUERY_TOO_COMPLEX': return '查询过于复杂，请缩小范围。';
      case 'NOT_FOUND': return '没有找到（' + msg + '）';
      case 'DEPARTMENT_UNAVAILABLE': return dept(e.extensions.department) + '系统暂时无法访问。';
      case 'BAD_USER_INPUT': return '输入有误：' + msg;
      default: return msg ? '出错了：' + msg : '出错了，请稍后重试。';
    }
  }

  // ---- DOM ----
  // h builds an element: h('div', {class: 'x', onclick: f}, 'text', child, ...).
  // Text is always set as text, never parsed as HTML.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'text') el.textContent = v;
      else if (k in el && typeof v !== 'string' && k !== 'list') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    append(el, children);
    return el;
  }
  function append(el, ...children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  // ---- formats ----
  const pad = (n) => String(n).padStart(2, '0');
  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  }
  function fmtNumber(v, unit) {
    if (v === null || v === undefined) return '—';
    const digits = unit === '%' ? 1 : (Number.isInteger(v) ? 0 : 1);
    return v.toLocaleString('zh-CN', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  // uuid is a random (version 4) UUID. crypto.randomUUID exists only in
  // secure contexts; a phone on the office network reaches the hub over plain
  // http, so fall back to getRandomValues, which exists everywhere.
  function uuid() {
    if (window.crypto && crypto.randomUUID) {
      try { return crypto.randomUUID(); } catch (e) { /* insecure context */ }
    }
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (n) => n.toString(16).padStart(2, '0')).join('');
    return x.slice(0, 8) + '-' + x.slice(8, 12) + '-' + x.slice(12, 16) + '-' + x.slice(16, 20) + '-' + x.slice(20);
  }

  // ---- sign-in ----
  // Staff sign in through the city's identity provider (/auth/login); the
  // hub then hands the page short-lived tokens on the signed-in session
  // (POST /auth/token), renewed before they expire. A dev hub also offers a
  // card to paste a token into.
  const SESSION_ISSUER = 'gridhub';
  // session asks the hub for a token on the signed-in session: {token}, or
  // {signIn, dev} saying where staff sign in and whether pasting is offered.
  async function session() {
    try {
      const r = await fetch('/auth/token', { method: 'POST', credentials: 'same-origin', headers: { 'X-Gridhub-Session': '1' } });
      const body = await r.json();
      if (r.ok && body.token) { setToken(body.token); return { token: body.token }; }
      return { signIn: body.signIn || '', dev: !!body.dev };
    } catch (e) {
      return { signIn: '', dev: false };
    }
  }
  // fromSession reports whether t is one of the hub's session tokens.
  const fromSession = (t) => ((claims(t) || {}).iss === SESSION_ISSUER);
  // fresh renews a session token that expires within a minute.
  async function fresh() {
    const t = token();
    const c = claims(t);
    if (t && fromSession(t) && c && c.exp && c.exp * 1000 - Date.now() < 60000) await session();
  }

  // signIn resolves with a token once staff are signed in: at once when the
  // hub's session gives one that check(token) accepts; otherwise it shows the
  // sign-in card in root (the identity provider's button; on a dev hub, the
  // card to paste a token into) and resolves once a pasted token passes
  // check. check throws an Error with a Chinese message to refuse it;
  // message, when given, says why sign-in is asked again.
  async function signIn(root, { title, check, message }) {
    const s = await session();
    let refused = message || '';
    if (s.token) {
      try { await check(s.token); return s.token; } catch (e) { setToken(''); refused = e.message || '登录失败。'; }
    }
    return new Promise((resolve) => {
      const err = h('div', { class: 'notice error', id: 'signin-error', role: 'alert', hidden: !refused }, refused);
      const card = h('div', { class: 'card signin stack', id: 'signin-form' }, h('h2', {}, title || '登录'), err);
      if (s.signIn) {
        const back = location.pathname + location.search + location.hash;
        card.append(
          h('p', { class: 'sub' }, '使用统一身份认证账号登录。'),
          h('a', { class: 'btn block', id: 'signin-provider', href: s.signIn + '?return=' + encodeURIComponent(back) }, '统一身份认证登录'));
      }
      if (s.dev) card.append(pasteForm(err, check, (t) => { card.remove(); resolve(t); }));
      if (!s.signIn && !s.dev) {
        card.append(h('p', { class: 'sub', id: 'signin-missing' }, '本系统尚未配置统一身份认证登录，请联系管理员。'));
      }
      clear(root).append(card);
      const area = $('#token', card);
      if (area) area.focus();
    });
  }

  // pasteForm is a dev hub's card: paste a token, check it, and call done.
  function pasteForm(err, check, done) {
    const area = h('textarea', {
      id: 'token', rows: 4, spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off',
      placeholder: 'eyJhbGciOi…', 'aria-describedby': 'token-help',
    });
    const btn = h('button', { class: 'btn block', type: 'submit', id: 'signin' }, '登录');
    const hint = h('div', { class: 'hint', id: 'dev-hint' },
      h('strong', {}, '开发环境：'), 'gridhub dev prints dev tokens —— 启动时打印的 dev-admin、dev-street、dev-bi 等令牌可直接粘贴。也可以这样生成：',
      h('code', { class: 'cmd' }, 'gridhub token --role community_admin --scope <社区代码>'));
    const form = h('form', { class: 'stack', novalidate: true },
      h('p', { class: 'sub', id: 'token-help' }, '粘贴访问令牌（Bearer token）。令牌只保存在本标签页中，关闭标签页即清除。'),
      h('label', { for: 'token' }, '访问令牌'), area, btn, hint);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const t = area.value.trim().replace(/^Bearer\s+/i, '');
      err.hidden = true;
      if (!t) { err.textContent = '请先粘贴令牌。'; err.hidden = false; area.focus(); return; }
      const c = claims(t);
      if (!c) { err.textContent = '这不是有效的令牌（应为 JWT，形如 eyJ…）。'; err.hidden = false; return; }
      if (c.exp && c.exp * 1000 < Date.now()) { err.textContent = '令牌已过期，请换一个新的。'; err.hidden = false; return; }
      btn.disabled = true;
      btn.textContent = '正在验证…';
      setToken(t);
      try {
        await check(t);
        done(t);
      } catch (e) {
        setToken('');
        err.textContent = e.message || '登录失败。';
        err.hidden = false;
      } finally {
        btn.disabled = false;
        btn.textContent = '登录';
      }
    });
    return form;
  }

  // signOut forgets the token and, for a session, ends it at the hub and at
  // the identity provider when it says where.
  async function signOut() {
    const t = token();
    setToken('');
    if (fromSession(t)) {
      try {
        const r = await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-Gridhub-Session': '1' } });
        const body = await r.json();
        if (body.endSession) { location.href = body.endSession; return; }
      } catch (e) { /* the page reloads signed out all the same */ }
    }
    location.reload();
  }

  // account fills the header's account area for the signed-in token, with a
  // sign-out button.
  function account(el, t) {
    const c = claims(t);
    clear(el).append(
      h('span', { class: 'who', title: describe(c) }, describe(c)),
      h('button', { type: 'button', id: 'signout', onclick: signOut }, '退出'));
  }

  return {
    DEPARTMENTS, ROLES, LEVELS, dept, token, setToken, claims, gql, must, code, errorText,
    RequestError, h, append, $, $$, clear, fmtTime, fmtNumber, uuid, signIn, account, fresh,
  };
})();

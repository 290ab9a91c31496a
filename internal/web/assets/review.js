// /review: record linkage's review queue for community staff. Each card puts
// a department row and the resident linkage proposes for it side by side
// (masked by the usual policy), with the score and the evidence per field;
// 确认 links the row (confirmLink), 拒绝 never proposes the pair again
// (rejectLink).
(() => {
  const { h, $, clear, gql, must } = GH;

  const Q_QUEUE = `query($after: String) {
    linkCandidates(first: 20, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { id department set setLabel status score
        evidence { field level weight }
        record { name sex birthDate address phone }
        person { name idNumber gender birthDate phone household { address } } } } }`;
  const M_CONFIRM = `mutation($id: ID!) { confirmLink(id: $id) { id status method } }`;
  const M_REJECT = `mutation($id: ID!) { rejectLink(id: $id) { id status } }`;

  const FIELDS = { idNumber: '身份证号', name: '姓名', birthDate: '出生日期', sex: '性别', address: '地址', phone: '电话' };
  const LEVELS = {
    EXACT: '一致', PHONETIC: '同音字', SHAPE: '形近字', SAME_BUILDING: '同一楼栋', SAME_GRID: '同一网格',
    CORRECTED: '纠正后一致', DIFFERENT: '不一致',
  };
  const SEX = { M: '男', F: '女' };

  const app = $('#app');
  const state = { after: null, total: 0 };
  let signedIn = false;

  document.addEventListener('gh:unauthenticated', () => {
    if (!signedIn) return;
    signedIn = false;
    GH.setToken('');
    start('登录已失效，请重新登录。');
  });
  start();

  async function start(message) {
    clear($('#account'));
    let first = null;
    const load = async () => { first = await page(null); };
    if (GH.token()) {
      try {
        await load();
      } catch (e) {
        GH.setToken('');
        return start(e.message);
      }
    } else {
      await GH.signIn(app, { title: '登录关联审核', check: load, message });
    }
    signedIn = true;
    GH.account($('#account'), GH.token());
    clear(app).append(
      h('section', { class: 'card' },
        h('h2', {}, '待审核的关联'),
        h('p', { class: 'sub' }, '部门记录的身份证号缺失或有误，系统找到的最可能的居民如下。请核对两边信息后确认或拒绝。'),
        h('p', { class: 'count', id: 'total' })),
      h('div', { id: 'queue', class: 'stack' }),
      h('button', { type: 'button', class: 'btn secondary block more', id: 'more', hidden: true, onclick: more }, '加载更多'));
    show(first);
  }

  // page reads one page of the queue; errors become Chinese messages.
  async function page(after) {
    const r = await gql(Q_QUEUE, { after });
    if (r.errors.length) {
      if (GH.code(r.errors[0]) === 'FORBIDDEN') throw new Error('此令牌的角色不能审核关联。请使用社区工作者或部门工作人员的令牌。');
      throw new Error(GH.errorText(r.errors[0]));
    }
    return r.data.linkCandidates;
  }

  async function more() {
    const btn = $('#more');
    btn.disabled = true;
    try {
      show(await page(state.after));
    } catch (e) {
      $('#queue').append(h('div', { class: 'notice error', role: 'alert' }, e.message));
    } finally {
      btn.disabled = false;
    }
  }

  function show(conn) {
    state.after = conn.pageInfo.endCursor;
    state.total = conn.totalCount;
    $('#total').textContent = '共 ' + conn.totalCount + ' 条待审核';
    const queue = $('#queue');
    if (!conn.nodes.length && !queue.children.length) {
      queue.append(h('div', { class: 'card muted', id: 'empty' }, '没有待审核的关联。'));
    }
    for (const c of conn.nodes) queue.append(card(c));
    $('#more').hidden = !conn.pageInfo.hasNextPage;
  }

  function card(c) {
    const p = c.person || {};
    const r = c.record || {};
    const status = h('div', { class: 'decided', hidden: true, role: 'status' });
    const ok = h('button', { type: 'button', class: 'btn confirm', onclick: () => decide(c, true) }, '确认');
    const no = h('button', { type: 'button', class: 'btn secondary reject', onclick: () => decide(c, false) }, '拒绝');
    return h('section', { class: 'card cand', dataset: { id: c.id } },
      h('div', { class: 'head' },
        h('span', { class: 'set' }, GH.dept(c.department) + ' · ' + (c.setLabel || c.set)),
        h('span', { class: 'score', title: '匹配概率' }, '匹配度 ' + (c.score * 100).toFixed(1) + '%')),
      h('div', { class: 'sides' },
        side('部门记录', 'record', [
          ['姓名', r.name], ['性别', SEX[r.sex] || r.sex], ['出生日期', r.birthDate], ['地址', r.address], ['电话', r.phone]]),
        side('人口主索引', 'person', [
          ['姓名', p.name], ['身份证号', p.idNumber], ['性别', SEX[p.gender] || p.gender], ['出生日期', p.birthDate],
          ['地址', p.household && p.household.address], ['电话', p.phone]])),
      h('ul', { class: 'evidence', 'aria-label': '逐项比对' }, (c.evidence || []).map((e) =>
        h('li', { class: e.level === 'DIFFERENT' ? 'differ' : (e.weight > 0 ? 'agree' : '') },
          (FIELDS[e.field] || e.field) + '：' + (LEVELS[e.level] || e.level)))),
      h('div', { class: 'decide' }, ok, no),
      status);
  }

  function side(title, cls, rows) {
    return h('div', { class: 'side ' + cls }, h('h3', {}, title),
      h('dl', {}, rows.filter(([, v]) => v).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
  }

  async function decide(c, confirm) {
    const el = document.querySelector(`.cand[data-id="${CSS.escape(c.id)}"]`);
    const buttons = el.querySelectorAll('.decide button');
    buttons.forEach((b) => { b.disabled = true; });
    const status = el.querySelector('.decided');
    try {
      await must(confirm ? M_CONFIRM : M_REJECT, { id: c.id });
      status.className = 'decided notice ' + (confirm ? 'info' : 'warn');
      status.textContent = confirm ? '已确认：此记录已关联到该居民。' : '已拒绝：不会再次推荐此关联。';
      el.classList.add('done');
      el.querySelector('.decide').hidden = true;
      state.total = Math.max(0, state.total - 1);
      $('#total').textContent = '共 ' + state.total + ' 条待审核';
    } catch (e) {
      status.className = 'decided notice error';
      status.textContent = e.message;
      buttons.forEach((b) => { b.disabled = false; });
    }
    status.hidden = false;
  }
})();

// /approvals: 准入 for street staff. The report templates departments
// drafted for the caller's streets, with their fields; approve one, or
// reject it with the reason.
(() => {
  const { h, $, clear, gql } = GH;

  const DRAFT = `id version department title step draftedBy submittedAt
    streets { street decision reason decidedBy decidedAt } fields { field label department section required }`;
  const Q_DRAFTS = `{ reportTemplateDrafts { ${DRAFT} } }`;
  const M_APPROVE = `mutation($id: ID!, $v: Int!, $s: ID!) { approveReportTemplate(template: $id, version: $v, street: $s) { ${DRAFT} } }`;
  const M_REJECT = `mutation($id: ID!, $v: Int!, $s: ID!, $r: String!) { rejectReportTemplate(template: $id, version: $v, street: $s, reason: $r) { ${DRAFT} } }`;
  const DECISION = { PENDING: ['待审批', 'wait'], APPROVED: ['已批准', 'ok'], REJECTED: ['已驳回', 'bad'] };
  const STEP = { DRAFT: '部门起草中', SUBMITTED: '已提交审批' };

  const app = $('#app');
  let streets = [];
  let drafts = [];

  WORK.start(app, '登录准入审批', async (token) => {
    const c = GH.claims(token) || {};
    if (!(c.roles || []).includes('street_admin')) throw new Error('准入审批由街道管理员进行：请使用街道管理员的令牌。');
    streets = (c.scope || []).filter((s) => /^\d{9}$/.test(s));
    const r = await gql(Q_DRAFTS);
    if (r.errors.length) throw new Error(GH.errorText(r.errors[0]));
    drafts = r.data.reportTemplateDrafts;
  }, draw);

  function draw() {
    clear(app);
    const pending = drafts.filter((d) => d.step === 'SUBMITTED' && d.streets.some((s) => streets.includes(s.street) && s.decision === 'PENDING'));
    app.append(h('section', { class: 'card' }, h('h2', {}, '社区工作准入'),
      h('p', { class: 'sub' }, '部门要求社区填报的新表单，须经街道批准后才能下发到本街道的社区。'),
      h('p', { id: 'summary' }, pending.length ? '待审批 ' + pending.length + ' 份' : '没有待审批的表单。')));
    if (!drafts.length) return;
    app.append(h('ul', { class: 'list', id: 'drafts' }, drafts.map(item)));
  }

  function item(d) {
    const mine = d.streets.filter((s) => streets.includes(s.street));
    const sections = new Map();
    for (const f of d.fields) {
      if (!sections.has(f.section)) sections.set(f.section, []);
      sections.get(f.section).push(f);
    }
    return h('li', { class: 'item card', dataset: { template: d.id, version: String(d.version) } },
      h('div', { class: 'head' }, h('span', { class: 'title' }, d.title),
        h('span', { class: 'muted small' }, GH.dept(d.department) + ' · 第 ' + d.version + ' 版 · ' + (STEP[d.step] || d.step))),
      h('div', { class: 'meta' }, '表单编号 ' + d.id + (d.submittedAt ? ' · 提交于 ' + GH.fmtTime(d.submittedAt) : '')),
      Array.from(sections, ([title, fields]) => h('div', { class: 'body' }, h('strong', {}, title + '：'),
        fields.map((f) => f.label + (f.required ? '（必填）' : '')).join('、'))),
      mine.map((s) => decision(d, s)));
  }

  function decision(d, s) {
    const [label, cls] = DECISION[s.decision] || [s.decision, ''];
    const box = h('div', { class: 'stack', dataset: { street: s.street } },
      h('div', { class: 'head' }, h('span', {}, '街道 ' + s.street), h('span', { class: 'badge ' + cls, dataset: { decision: s.decision } }, label)),
      s.reason ? h('div', { class: 'meta' }, '驳回理由：' + s.reason) : null,
      s.decidedBy ? h('div', { class: 'meta' }, s.decidedBy + ' · ' + GH.fmtTime(s.decidedAt)) : null);
    if (d.step !== 'SUBMITTED' || s.decision !== 'PENDING') return box;
    const reason = h('textarea', { rows: 2, class: 'reason', placeholder: '驳回时填写理由' });
    const msg = h('div', { class: 'notice error', role: 'alert', hidden: true });
    const form = h('form', { class: 'stack', novalidate: true },
      WORK.field('reason', '审批意见', reason), msg,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn approve', onclick: () => send(true) }, '批准'),
        h('button', { type: 'button', class: 'btn secondary reject', onclick: () => send(false) }, '驳回')));
    async function send(approve) {
      msg.hidden = true;
      for (const b of form.querySelectorAll('button')) b.disabled = true;
      try {
        const vars = { id: d.id, v: d.version, s: s.street };
        const r = approve ? await gql(M_APPROVE, vars) : await gql(M_REJECT, { ...vars, r: reason.value });
        const rest = WORK.showErrors(form, r.errors);
        if (rest) { msg.textContent = rest; msg.hidden = false; }
        const next = r.data && (r.data.approveReportTemplate || r.data.rejectReportTemplate);
        if (next) {
          drafts = drafts.map((x) => (x.id === next.id && x.version === next.version ? next : x));
          draw();
        }
      } catch (e) {
        msg.textContent = e.message; msg.hidden = false;
      } finally {
        for (const b of form.querySelectorAll('button')) b.disabled = false;
      }
    }
    box.append(form);
    return box;
  }
})();

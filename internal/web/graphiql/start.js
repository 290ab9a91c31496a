// Starts GraphiQL on the hub's own /graphql. Every request carries the headers
// of the Headers tab: paste a token from `gridhub token` in place of <token>.
(function () {
  'use strict';
  var fetcher = GraphiQL.createFetcher({ url: new URL('/graphql', window.location.href).toString() });
  var headers = JSON.stringify({ Authorization: 'Bearer <token>', 'X-Purpose': 'home_visit' }, null, 2);
  var query = [
    '# 部门与数据来源：每个部门的记录集与字段。',
    '# 在下方 Headers 中填入 `gridhub token` 生成的令牌。',
    '{',
    '  departments {',
    '    code',
    '    name',
    '    healthy',
    '  }',
    '}',
    ''
  ].join('\n');
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: query,
      defaultHeaders: headers,
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false
    })
  );
})();

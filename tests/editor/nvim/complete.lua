-- Drive `mgd lsp` from Neovim's built-in LSP client (0.7+), headless.
--
--   nvim --headless -u NONE -c 'luafile complete.lua'   with MGD_NVIM_SPEC=spec.json
--
-- spec.json: {
--   "cmd": ["python", "-m", "mgd.cli", "lsp", ...],   -- the server command (absent: the -u config
--                                                      -- starts it on FileType, as a user's would)
--   "root": "/abs/workspace", "file": "/abs/workspace/report.py",
--   "init_options": {...},                             -- sent as initializationOptions
--   "timeout_ms": 120000,                              -- per request
--   "out": "/abs/result.json",
--   "steps": [ {"line": 10, "text": "        total += c.",     -- 0-based line to replace (in the buffer)
--               "requests": ["inline", "completion", ...]} ]    -- asked, in order, at the end of that line
-- }
-- The buffer is edited with nvim_buf_set_lines, so Neovim sends its own incremental
-- didChange (UTF-16 ranges); positions are computed from the line text with
-- vim.str_utfindex in the client's offset encoding. `completion` goes through
-- vim.lsp.buf_request_sync; `inline` (textDocument/inlineCompletion, unknown to 0.7)
-- is sent as a raw request through the same client. result.json gets every answer,
-- the buffer text after each step, and any error.
local spec = vim.fn.json_decode(table.concat(vim.fn.readfile(os.getenv('MGD_NVIM_SPEC')), '\n'))
local result = { steps = {}, errors = {}, nvim = vim.version() }

local function finish()
  vim.fn.writefile({ vim.fn.json_encode(result) }, spec.out)
  vim.cmd('qall!')
end

local ok, err = pcall(function()
  vim.cmd('edit ' .. vim.fn.fnameescape(spec.file))
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].filetype = 'python'
  local client_id
  if spec.cmd then
    local ready = false
    client_id = vim.lsp.start_client({
      name = 'mgd',
      cmd = spec.cmd,
      root_dir = spec.root,
      init_options = spec.init_options,
      on_init = function() ready = true end,
      on_exit = function(code) result.exit_code = code end,
    })
    assert(client_id, 'vim.lsp.start_client failed')
    assert(vim.wait(120000, function() return ready end, 50), 'mgd lsp did not initialize')
    vim.lsp.buf_attach_client(buf, client_id)
  else
    -- No cmd: the user's config (-u examples/editors/nvim/init-0.7.lua) starts and attaches it.
    assert(vim.wait(120000, function()
      for id, c in pairs(vim.lsp.buf_get_clients(buf)) do
        if c.name == 'mgd' and c.server_capabilities ~= nil then client_id = id; return true end
      end
      return false
    end, 50), 'the config did not start and attach an mgd client')
    result.from_config = true
  end
  local client = vim.lsp.get_client_by_id(client_id)
  result.offset_encoding = client.offset_encoding
  local caps = client.server_capabilities or client.resolved_capabilities
  result.inline_provider = caps.inlineCompletionProvider ~= nil

  for _, step in ipairs(spec.steps) do
    vim.api.nvim_buf_set_lines(buf, step.line, step.line + 1, false, { step.text })
    local line = vim.api.nvim_buf_get_lines(buf, step.line, step.line + 1, false)[1]
    local u32, u16 = vim.str_utfindex(line)
    local character = ({ ['utf-8'] = #line, ['utf-16'] = u16, ['utf-32'] = u32 })[client.offset_encoding] or u16
    local position = { line = step.line, character = character }
    local params = { textDocument = vim.lsp.util.make_text_document_params(buf), position = position }
    local got = { line = step.line, position = position, answers = {},
                  buffer = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') .. '\n' }
    for _, kind in ipairs(step.requests) do
      local t0 = vim.loop.hrtime()
      local answer = { kind = kind, items = {} }
      if kind == 'completion' then
        params.context = { triggerKind = 2, triggerCharacter = '.' }
        local res, e = vim.lsp.buf_request_sync(buf, 'textDocument/completion', params, spec.timeout_ms)
        params.context = nil
        answer.error = e
        for _, r in pairs(res or {}) do
          if r.err then answer.error = r.err.message end
          local list = r.result or {}
          for _, item in ipairs(list.items or list) do
            local edit = item.textEdit or {}
            table.insert(answer.items, { text = edit.newText or item.insertText or item.label, range = edit.range })
          end
        end
      else
        local done = false
        params.context = { triggerKind = 1 }
        client.request('textDocument/inlineCompletion', params, function(e, res)
          if e then answer.error = e.message end
          for _, item in ipairs((res or {}).items or res or {}) do
            local text = type(item.insertText) == 'table' and item.insertText.value or item.insertText
            table.insert(answer.items, { text = text, range = item.range })
          end
          done = true
        end, buf)
        params.context = nil
        if not vim.wait(spec.timeout_ms, function() return done end, 10) then answer.error = 'timeout' end
      end
      answer.ms = (vim.loop.hrtime() - t0) / 1e6
      table.insert(got.answers, answer)
    end
    table.insert(result.steps, got)
  end
  result.omnifunc = vim.bo[buf].omnifunc
  local stats = vim.lsp.buf_request_sync(buf, 'workspace/executeCommand', { command = 'mgd.stats' }, 30000)
  for _, r in pairs(stats or {}) do result.stats = r.result end
  local stopped = false
  client.stop()
  vim.wait(30000, function() stopped = vim.lsp.client_is_stopped(client_id); return stopped end, 50)
  result.stopped = stopped
end)
if not ok then table.insert(result.errors, tostring(err)) end
finish()

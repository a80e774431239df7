-- mgd lsp in Neovim 0.11+ (native LSP; inline completion needs 0.12's vim.lsp.inline_completion).
-- Put this in ~/.config/nvim/init.lua (or source it). `mgd` must be on PATH (the venv's bin),
-- and MGD_MODEL (or init_options.model) must name the model.
vim.lsp.config('mgd', {
  cmd = { 'mgd', 'lsp' },                -- add '--remote', 'http://127.0.0.1:8000' for mgd serve / vLLM
  filetypes = { 'python' },
  root_markers = { 'mgd.toml', 'pyproject.toml', 'setup.py', '.git' },
  init_options = {                        -- any [editor] setting of mgd.toml (these win over it)
    debounce_ms = 60,
    latency_budget_ms = 1500,
    server = 'jedi',                      -- the language server behind the monitors
  },
})
vim.lsp.enable('mgd')

vim.api.nvim_create_autocmd('LspAttach', {
  callback = function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    if not client or client.name ~= 'mgd' then return end
    if vim.lsp.inline_completion then
      -- Neovim 0.12+: ghost text from textDocument/inlineCompletion; <Tab> accepts.
      vim.lsp.inline_completion.enable(true, { bufnr = args.buf })
      vim.keymap.set('i', '<Tab>', function()
        if not vim.lsp.inline_completion.get() then return '<Tab>' end
      end, { expr = true, buffer = args.buf, desc = 'accept mgd completion' })
    else
      -- Neovim 0.11: classic completion menu (textDocument/completion, triggered on '.').
      vim.lsp.completion.enable(true, client.id, args.buf, { autotrigger = true })
    end
  end,
})

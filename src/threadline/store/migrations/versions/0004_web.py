"""The web app's tables: TLP on documents and analyses, accounts and API tokens, background jobs, analysts'
reviews, and the full-text index of analysed reports (SQLite FTS5, or a PostgreSQL GIN index on tsvector)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from threadline.store.models import PG_TSVECTOR  # the expression the web app's searches use too

revision = "0004_web"
down_revision = "0003_analyses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("tlp", sa.String(20), nullable=False, server_default="clear"))
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("tlp", sa.String(20), nullable=False, server_default="clear"))
    # Analyses made before this migration keep the marking their report's front matter gave them.
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("UPDATE analyses SET tlp = json_extract(data, '$.document.tlp') "
                   "WHERE json_extract(data, '$.document.tlp') IS NOT NULL")
    elif bind.dialect.name == "postgresql":
        op.execute("UPDATE analyses SET tlp = data::json->'document'->>'tlp' "
                   "WHERE data::json->'document'->>'tlp' IS NOT NULL")
    op.execute("UPDATE documents SET tlp = (SELECT a.tlp FROM analyses a WHERE a.document_id = documents.id) "
               "WHERE id IN (SELECT document_id FROM analyses)")
    # Covering indexes for the listing (newest first) and TAXII (oldest analysis first): an analysis row holds its
    # whole JSON, so a query that had to read rows to sort or count them read the whole table (1.4 s at 10,000).
    op.create_index("ix_analyses_listing", "analyses", ["published", "analysed_at", "document_id", "tlp"])
    op.create_index("ix_analyses_added", "analyses", ["analysed_at", "document_id", "tlp"])
    # A filter or a search names reports by id: this one answers them without reading the rows either.
    op.create_index("ix_analyses_by_document", "analyses", ["document_id", "tlp", "published", "analysed_at"])
    # "Which reports have this actor / technique / indicator?" answered from the index alone (a filtered listing
    # page at 10,000 reports: 83 ms of reading findings rows down to 4 ms).
    op.create_index("ix_findings_lookup", "findings", ["kind", "key", "document_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("step", sa.Text(), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("tlp", sa.String(20), nullable=False),
        sa.Column("document_id", sa.String(64), nullable=True),
        sa.Column("submitted_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(64), sa.ForeignKey("documents.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reviews_document_id", "reviews", ["document_id"])
    if bind.dialect.name == "sqlite":
        # An FTS5 table of analysed reports; triggers keep it in step with the analyses, so that the code writing
        # analyses needs no change and a search sees only analysed reports. Its rowids come from search_keys (an
        # INTEGER PRIMARY KEY, which VACUUM never renumbers, unlike the implicit rowid of a text-keyed table).
        op.execute("CREATE TABLE search_keys (id INTEGER PRIMARY KEY, document_id VARCHAR(64) NOT NULL UNIQUE)")
        op.execute("CREATE VIRTUAL TABLE report_search USING fts5(title, body, "
                   "tokenize='unicode61 remove_diacritics 2')")
        op.execute("""CREATE TRIGGER report_search_ai AFTER INSERT ON analyses BEGIN
            INSERT OR IGNORE INTO search_keys(document_id) VALUES (NEW.document_id);
            INSERT INTO report_search(rowid, title, body)
            SELECT k.id, coalesce(d.title, ''), d.text FROM documents d JOIN search_keys k ON k.document_id = d.id
            WHERE d.id = NEW.document_id;
        END""")
        op.execute("""CREATE TRIGGER report_search_ad AFTER DELETE ON analyses BEGIN
            DELETE FROM report_search WHERE rowid = (SELECT id FROM search_keys WHERE document_id = OLD.document_id);
        END""")
        op.execute("INSERT INTO search_keys(document_id) SELECT document_id FROM analyses")
        op.execute("""INSERT INTO report_search(rowid, title, body)
            SELECT k.id, coalesce(d.title, ''), d.text FROM search_keys k JOIN documents d ON d.id = k.document_id""")
    elif bind.dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_documents_fts ON documents USING gin ({PG_TSVECTOR})")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS report_search_ad")
        op.execute("DROP TRIGGER IF EXISTS report_search_ai")
        op.execute("DROP TABLE IF EXISTS report_search")
        op.execute("DROP TABLE IF EXISTS search_keys")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_documents_fts")
    op.drop_index("ix_reviews_document_id", table_name="reviews")
    op.drop_table("reviews")
    op.drop_table("jobs")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_index("ix_findings_lookup", table_name="findings")
    op.drop_index("ix_analyses_by_document", table_name="analyses")
    op.drop_index("ix_analyses_added", table_name="analyses")
    op.drop_index("ix_analyses_listing", table_name="analyses")
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("tlp")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("tlp")

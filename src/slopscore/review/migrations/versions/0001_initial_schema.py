"""Initial schema: queue items, artworks, the decision audit log, moderators, message templates,
model versions.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('artworks',
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('artist_id', sa.String(length=200), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('item_id')
    )
    with op.batch_alter_table('artworks', schema=None) as batch_op:
        batch_op.create_index('ix_artworks_artist_uploaded', ['artist_id', 'uploaded_at'], unique=False)

    op.create_table('message_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('model_versions',
    sa.Column('model_version', sa.String(length=200), nullable=False),
    sa.Column('backbone_id', sa.String(length=200), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reference_histogram', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('model_version')
    )
    op.create_table('moderators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('queue_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('model_version', sa.String(length=200), nullable=False),
    sa.Column('artist_id', sa.String(length=200), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('file_type', sa.String(length=16), nullable=True),
    sa.Column('triage_score', sa.Float(), nullable=True),
    sa.Column('p_ai', sa.Float(), nullable=True),
    sa.Column('portfolio_outlier', sa.Float(), nullable=True),
    sa.Column('portfolio_size', sa.Integer(), nullable=True),
    sa.Column('cold_start', sa.Boolean(), nullable=True),
    sa.Column('near_duplicates', sa.Float(), nullable=True),
    sa.Column('cross_account_posters', sa.Integer(), nullable=True),
    sa.Column('declared_ai', sa.Boolean(), nullable=True),
    sa.Column('has_process_notes', sa.Boolean(), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('provenance_reasons', sa.Text(), nullable=False),
    sa.Column('breakdown', sa.Text(), nullable=False),
    sa.Column('nearest_works', sa.Text(), nullable=False),
    sa.Column('skip_reason', sa.String(length=64), nullable=True),
    sa.Column('backbone_id', sa.String(length=200), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('tags', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('scored_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id', 'model_version', name='uq_queue_item_model')
    )
    with op.batch_alter_table('queue_items', schema=None) as batch_op:
        batch_op.create_index('ix_queue_artist_uploaded', ['artist_id', 'uploaded_at'], unique=False)
        batch_op.create_index('ix_queue_item_id', ['item_id'], unique=False)
        batch_op.create_index('ix_queue_status_outlier', ['status', 'portfolio_outlier', 'id'], unique=False)
        batch_op.create_index('ix_queue_status_p_ai', ['status', 'p_ai', 'id'], unique=False)
        batch_op.create_index('ix_queue_status_score', ['status', 'triage_score', 'id'], unique=False)
        batch_op.create_index('ix_queue_status_uploaded', ['status', 'uploaded_at', 'id'], unique=False)

    op.create_table('decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('queue_item_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('artist_id', sa.String(length=200), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('moderator', sa.String(length=100), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('model_version', sa.String(length=200), nullable=False),
    sa.Column('triage_score', sa.Float(), nullable=True),
    sa.Column('p_ai', sa.Float(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['queue_item_id'], ['queue_items.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index('ix_decisions_artist', ['artist_id', 'decided_at'], unique=False)
        batch_op.create_index('ix_decisions_decided_at', ['decided_at'], unique=False)
        batch_op.create_index('ix_decisions_item', ['queue_item_id', 'decided_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_decisions_item')
        batch_op.drop_index('ix_decisions_decided_at')
        batch_op.drop_index('ix_decisions_artist')

    op.drop_table('decisions')
    with op.batch_alter_table('queue_items', schema=None) as batch_op:
        batch_op.drop_index('ix_queue_status_uploaded')
        batch_op.drop_index('ix_queue_status_score')
        batch_op.drop_index('ix_queue_status_p_ai')
        batch_op.drop_index('ix_queue_status_outlier')
        batch_op.drop_index('ix_queue_item_id')
        batch_op.drop_index('ix_queue_artist_uploaded')

    op.drop_table('queue_items')
    op.drop_table('moderators')
    op.drop_table('model_versions')
    op.drop_table('message_templates')
    with op.batch_alter_table('artworks', schema=None) as batch_op:
        batch_op.drop_index('ix_artworks_artist_uploaded')

    op.drop_table('artworks')

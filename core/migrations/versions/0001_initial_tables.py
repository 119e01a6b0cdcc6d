"""initial tables

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.db.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('article_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('identity', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('deflection_id', sa.Integer(), nullable=True),
    sa.Column('at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('article_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_feedback_article', ['article_id', 'kind'], unique=False)

    op.create_table('articles',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('lang', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('tags', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('aliases', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('checksum', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source_ticket_id', sa.Integer(), nullable=True),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('updated_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('entity', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('entity_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('before', sa.Text(), nullable=True),
    sa.Column('after', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('card_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('conversation_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('updated_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('card_key', 'conversation_key', name='uq_card_conversation')
    )
    with op.batch_alter_table('card_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_messages_card_key'), ['card_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_card_messages_message_id'), ['message_id'], unique=False)

    op.create_table('deflections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('desk', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('requester', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('requester_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('conversation', sa.Text(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('lang', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('suggestions', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('intake_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('message_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('received_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'event_id', name='uq_intake_event'),
    sa.UniqueConstraint('platform', 'message_key', name='uq_intake_message')
    )
    with op.batch_alter_table('intake_events', schema=None) as batch_op:
        batch_op.create_index('ix_intake_pending', ['status', 'id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('conversation_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('conversation', sa.Text(), nullable=False),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.Column('card_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('reply_to_message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_conversation', ['conversation_key', 'status', 'id'], unique=False)
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('role_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('desk', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('identity', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('desk', 'identity', 'role', name='uq_role_grant')
    )
    op.create_table('sla_state',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('ticket_counters',
    sa.Column('desk', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('desk')
    )
    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('desk', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('location', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('requester', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('requester_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('assignee', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('assignee_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('support_group', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('lang', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source_platform', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('source_conversation', sa.Text(), nullable=True),
    sa.Column('source_message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('rating_comment', sa.Text(), nullable=True),
    sa.Column('suggestions', sa.Text(), nullable=True),
    sa.Column('created_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('respond_by', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('resolve_by', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('paused_since', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('paused_seconds', sa.Float(), nullable=False),
    sa.Column('sla_cycle', sa.Integer(), nullable=False),
    sa.Column('sla_started_at', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('sla_next_at', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('desk', 'number', name='uq_ticket_desk_number'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_assignee', ['assignee'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_tickets_requester', ['requester'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_resolve_by'), ['resolve_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_respond_by'), ['respond_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_sla_next_at'), ['sla_next_at'], unique=False)
        batch_op.create_index('ix_tickets_status_desk', ['status', 'desk'], unique=False)

    op.create_table('sla_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'kind', 'cycle', name='uq_sla_alert')
    )
    with op.batch_alter_table('sla_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_alerts_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('thread_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('thread_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'chat_id', 'thread_id', name='uq_thread_link')
    )
    with op.batch_alter_table('thread_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_thread_links_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('other_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['other_id'], ['tickets.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'other_id', 'kind', name='uq_ticket_link')
    )
    with op.batch_alter_table('ticket_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_links_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('started_at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', core.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticket_pauses', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_pauses_ticket', ['ticket_id', 'cycle'], unique=False)

    op.create_table('timeline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', core.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('data', sa.Text(), nullable=True),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('timeline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timeline_ticket_id'), ['ticket_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('timeline', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timeline_ticket_id'))

    op.drop_table('timeline')
    with op.batch_alter_table('ticket_pauses', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_pauses_ticket')

    op.drop_table('ticket_pauses')
    with op.batch_alter_table('ticket_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_links_ticket_id'))

    op.drop_table('ticket_links')
    with op.batch_alter_table('thread_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_thread_links_ticket_id'))

    op.drop_table('thread_links')
    with op.batch_alter_table('sla_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_alerts_ticket_id'))

    op.drop_table('sla_alerts')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_status_desk')
        batch_op.drop_index(batch_op.f('ix_tickets_sla_next_at'))
        batch_op.drop_index(batch_op.f('ix_tickets_respond_by'))
        batch_op.drop_index(batch_op.f('ix_tickets_resolve_by'))
        batch_op.drop_index('ix_tickets_requester')
        batch_op.drop_index(batch_op.f('ix_tickets_created_at'))
        batch_op.drop_index('ix_tickets_assignee')

    op.drop_table('tickets')
    op.drop_table('ticket_counters')
    op.drop_table('sla_state')
    op.drop_table('role_grants')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')
        batch_op.drop_index('ix_outbox_conversation')

    op.drop_table('outbox')
    with op.batch_alter_table('intake_events', schema=None) as batch_op:
        batch_op.drop_index('ix_intake_pending')

    op.drop_table('intake_events')
    op.drop_table('deflections')
    with op.batch_alter_table('card_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_messages_message_id'))
        batch_op.drop_index(batch_op.f('ix_card_messages_card_key'))

    op.drop_table('card_messages')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    op.drop_table('articles')
    with op.batch_alter_table('article_feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_article')

    op.drop_table('article_feedback')
    

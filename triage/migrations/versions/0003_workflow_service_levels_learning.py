"""workflow, service levels, learning

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa
import triage.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', triage.db.UTCDateTime(), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('label_count', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('sla_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=True),
    sa.Column('intent', sa.String(length=16), nullable=True),
    sa.Column('first_response_minutes', sa.Integer(), nullable=False),
    sa.Column('resolution_minutes', sa.Integer(), nullable=False),
    sa.Column('business_hours', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('saved_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('intent', sa.String(length=16), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', triage.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', triage.db.UTCDateTime(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mention_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sentiment', sa.String(length=16), nullable=True),
    sa.Column('intent', sa.String(length=16), nullable=True),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', triage.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_labels_mention_id'), ['mention_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('mention_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', triage.db.UTCDateTime(), nullable=False),
    sa.Column('read_at', triage.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_unread', ['user_id', 'read_at'], unique=False)

    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_touched_at', triage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', triage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalated_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('escalated_to_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('escalation_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('first_response_due_at', triage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolution_due_at', triage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('first_response_breached_at', triage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolution_breached_at', triage.db.UTCDateTime(), nullable=True))
        batch_op.drop_index(batch_op.f('ix_mentions_queue_order'))
        batch_op.create_index('ix_mentions_claimed_by', ['claimed_by_id', 'status'], unique=False)
        batch_op.create_index('ix_mentions_delivery_id', ['delivery_id'], unique=False)
        batch_op.create_index('ix_mentions_escalated', ['escalated_at', 'status'], unique=False)
        batch_op.create_index('ix_mentions_owner', ['owner_id', 'status'], unique=False)
        batch_op.create_foreign_key('fk_mentions_escalated_to_id', 'users', ['escalated_to_id'], ['id'])
        batch_op.create_foreign_key('fk_mentions_escalated_by_id', 'users', ['escalated_by_id'], ['id'])

    # Outside the batch: SQLite's table copy cannot carry expression (DESC) index columns.
    workable = sa.text("status IN ('open', 'answered')")
    claimable = sa.text("status = 'open' AND claimed_by_id IS NULL")
    for name, columns, where in (
        ('ix_mentions_queue_rank', ['queue_id', sa.text('priority DESC'), 'posted_at', 'id'], workable),
        ('ix_mentions_rank', [sa.text('priority DESC'), 'posted_at', 'id'], workable),
        ('ix_mentions_claimable', ['queue_id', sa.text('priority DESC'), 'posted_at', 'id'], claimable),
    ):
        op.create_index(name, 'mentions', columns, sqlite_where=where, postgresql_where=where)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column('from_state', type_=sa.String(length=200), existing_type=sa.String(length=16))
        batch_op.alter_column('to_state', type_=sa.String(length=200), existing_type=sa.String(length=16))

    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('url', sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column('in_reply_to', sa.String(length=512), nullable=True))
        batch_op.alter_column('mention_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index('ix_responses_waiting', ['network', 'in_reply_to'], unique=False)

    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=False, server_default='UTC'))
        batch_op.add_column(sa.Column('business_hours', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('holidays', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('escalate_breached_urgent', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    with op.batch_alter_table('teams', schema=None) as batch_op:
        # The defaults only filled existing rows; the application sets these columns itself.
        batch_op.alter_column('timezone', server_default=None)
        batch_op.alter_column('holidays', server_default=None)
        batch_op.alter_column('escalate_breached_urgent', server_default=None)

    from sqlalchemy.orm import Session

    from triage.defaults import ensure_sla_policies

    session = Session(bind=op.get_bind())
    ensure_sla_policies(session)
    session.flush()


def downgrade() -> None:
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_column('escalate_breached_urgent')
        batch_op.drop_column('holidays')
        batch_op.drop_column('business_hours')
        batch_op.drop_column('timezone')

    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_column('url')
        batch_op.drop_index('ix_responses_waiting')
        batch_op.alter_column('mention_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('in_reply_to')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column('from_state', type_=sa.String(length=16), existing_type=sa.String(length=200))
        batch_op.alter_column('to_state', type_=sa.String(length=16), existing_type=sa.String(length=200))

    for name in ('ix_mentions_claimable', 'ix_mentions_rank', 'ix_mentions_queue_rank'):
        op.drop_index(name, 'mentions')
    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_mentions_escalated_by_id', type_='foreignkey')
        batch_op.drop_constraint('fk_mentions_escalated_to_id', type_='foreignkey')
        batch_op.drop_index('ix_mentions_owner')
        batch_op.drop_index('ix_mentions_escalated')
        batch_op.drop_index('ix_mentions_claimed_by')
        batch_op.drop_index('ix_mentions_delivery_id')
        batch_op.create_index(batch_op.f('ix_mentions_queue_order'), ['queue_id', 'status', 'priority', 'posted_at'], unique=False)
        batch_op.drop_column('resolution_breached_at')
        batch_op.drop_column('first_response_breached_at')
        batch_op.drop_column('resolution_due_at')
        batch_op.drop_column('first_response_due_at')
        batch_op.drop_column('escalation_reason')
        batch_op.drop_column('escalated_to_id')
        batch_op.drop_column('escalated_by_id')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('claim_touched_at')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_unread')

    op.drop_table('notifications')
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_labels_mention_id'))

    op.drop_table('labels')
    op.drop_table('saved_replies')
    op.drop_table('sla_policies')
    op.drop_table('model_versions')
